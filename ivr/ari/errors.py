"""Errors raised by the in-project ARI client and the per-call handle.

Exception tree::

    Exception
    ├── AriError                  anything that went wrong talking to ARI
    │   ├── AriUnavailable        connection refused / timed out / reset
    │   │   └── AriTimedOut       no answer within the request timeout (not retried)
    │   └── AriHttpError          ARI answered with a non-2xx status (.status .method .path)
    │       ├── ChannelGone       404: the channel (or playback, bridge, ...) does not exist
    │       └── NotInStasis       409 / 412: the channel is not in our Stasis app / bad state
    └── CallHungUp                raised inside a call flow when its caller is gone

``CallHungUp`` is deliberately *not* an ``AriError``: it is the normal way a call flow
ends, not a fault. Messages never contain the password or an Authorization header: the
client keeps credentials in the header only and the messages carry method, path, status
and the short ``message`` text ARI puts in its error bodies.
"""

from __future__ import annotations

import json

__all__ = [
    "AriError",
    "AriHttpError",
    "AriTimedOut",
    "AriUnavailable",
    "CallHungUp",
    "ChannelGone",
    "NotInStasis",
    "http_error",
    "short_detail",
]


class AriError(Exception):
    """Base class for failures talking to ARI."""


class AriUnavailable(AriError):
    """ARI could not be reached: connection refused, timeout or reset."""


class AriTimedOut(AriUnavailable):
    """No answer within the request timeout: Asterisk is slow, not refusing; not retried."""


class AriHttpError(AriError):
    """ARI answered with an error status."""

    def __init__(self, status: int, method: str, path: str, detail: str = "") -> None:
        self.status = status
        self.method = method
        self.path = path
        self.detail = detail
        text = f"ARI {method} {path} -> HTTP {status}"
        if detail:
            text = f"{text}: {detail}"
        super().__init__(text)


class ChannelGone(AriHttpError):
    """HTTP 404: the channel (or the playback/bridge/recording addressed) does not exist."""


class NotInStasis(AriHttpError):
    """HTTP 409 or 412: the channel is not in the Stasis application or in the wrong state."""


class CallHungUp(Exception):
    """The caller of this call is gone; raised from waits and REST calls inside a flow."""

    def __init__(self, channel_id: str, reason: str = "hung up") -> None:
        self.channel_id = channel_id
        self.reason = reason
        super().__init__(f"channel {channel_id} {reason}")


def http_error(status: int, method: str, path: str, detail: str = "") -> AriHttpError:
    """Return the most specific AriHttpError subclass for ``status``."""
    if status == 404:
        return ChannelGone(status, method, path, detail)
    if status in (409, 412):
        return NotInStasis(status, method, path, detail)
    return AriHttpError(status, method, path, detail)


def short_detail(body: str, limit: int = 200) -> str:
    """What an error body says, for a message: ARI's ``message`` text when the body is JSON
    with one, else the body; whitespace collapsed, at most ``limit`` characters."""
    if not body:
        return ""
    try:
        decoded = json.loads(body)
    except ValueError:
        decoded = None
    text = body
    if isinstance(decoded, dict) and isinstance(decoded.get("message"), str):
        text = decoded["message"]
    return " ".join(text.split())[:limit]
