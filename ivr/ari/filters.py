"""The event types Linja's flows use, and the ARI application event filter that keeps the
others (``ChannelVarset``, ``ChannelStateChange``, ``ChannelDialplan``, …) from being sent.

Asterisk applies an application's filter to every event before it is serialised for the
websocket, so a filtered event costs neither Asterisk's JSON encoding nor our decoding. The
filter belongs to the application and is applied again on every (re)connect, since an
Asterisk restart forgets it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable

from ivr.ari.errors import AriError
from ivr.ari.protocol import AriRest

__all__ = ["FLOW_EVENTS", "apply_event_filter", "untracked_end"]

log = logging.getLogger(__name__)

# What ivr/ari (Call, Dispatcher) and the flows act on, plus the starts the console counts
# (PlaybackStarted, RecordingStarted in /api/stats).
FLOW_EVENTS: tuple[str, ...] = (
    "StasisStart",
    "StasisEnd",
    "ChannelHangupRequest",
    "ChannelDestroyed",
    "ChannelDtmfReceived",
    "PlaybackStarted",
    "PlaybackFinished",
    "RecordingStarted",
    "RecordingFinished",
    "RecordingFailed",
    # Asterisk 22 applies the filter to the answers of REST requests sent on the websocket
    # too (ivr/ari/wsrest.py): without this they are never delivered (checked by hand).
    "RESTResponse",
)


async def apply_event_filter(rest: AriRest, app: str, types: Iterable[str] = FLOW_EVENTS) -> bool:
    """Allow only ``types`` for application ``app``; False (logged) if ARI refused.

    A refused filter is not fatal: the flows ignore what they do not use, it only costs."""
    allowed = [{"type": t} for t in types]
    try:
        await rest.request(
            "PUT", f"/applications/{app}/eventFilter", json={"allowed": allowed, "disallowed": []}
        )
    except AriError as exc:
        log.warning("ARI app %s: event filter not applied (%s); receiving every event", app, exc)
        return False
    log.info("ARI app %s: events filtered to %d types", app, len(allowed))
    return True


_END_PREFIX = '{"type":"StasisEnd",'
_CHANNEL_ID = '"channel":{"id":"'


def untracked_end(
    tracks: Callable[[str], bool], skipped: Callable[[], None]
) -> Callable[[str], bool]:
    """A raw-text test for the websocket: True for a ``StasisEnd`` of a channel no call
    tracks (a bulletin call handed back to the dialplan, whose flow has already ended), which
    then is not decoded at all; ``skipped()`` is told, to count it. Anything it cannot read
    that way (another layout, ``pretty = yes`` in ari.conf) is decoded as usual."""

    def skip(text: str) -> bool:
        if not text.startswith(_END_PREFIX):
            return False
        at = text.find(_CHANNEL_ID)
        if at < 0:
            return False
        at += len(_CHANNEL_ID)
        end = text.find('"', at)
        if end <= at or tracks(text[at:end]):
            return False
        skipped()
        return True

    return skip
