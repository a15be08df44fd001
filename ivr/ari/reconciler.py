"""Reconciler: no channel in our Stasis application without a flow, no flow without a channel.

Every ``interval`` seconds it lists Asterisk's channels (``GET /channels``) and compares the
ones sitting in our application with the calls the dispatcher runs. Each difference is
decided by :func:`decide`:

==============================================  ======================================
difference                                      action
==============================================  ======================================
in our app, never seen (its StasisStart lost)   ``adopt``: start its flow, as a resync
                                                after a reconnect does (the admission
                                                gate may shed it)
in our app, its flow failed on ARI              ``continue``: to the ``shed`` label of its
                                                extension (the dialplan fallback)
in our app, its flow ended otherwise            ``hangup``
a running flow whose channel Asterisk lacks     ``forget``: end the flow (a synthetic
                                                ChannelDestroyed)
==============================================  ======================================

A difference is acted on only when the next pass still shows it (an event may be on its
way while the channels are listed), so everything is settled within two periods. Every
action is logged with the channel id and counted (:class:`ActionLog`). A ``continue`` the
dialplan cannot take (no ``shed`` label: 404) becomes a hang-up. Nothing is done while the
event stream is down: the resync after the reconnect repairs that gap.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from ivr.ari.dispatcher import Dispatcher, stasis_args
from ivr.ari.errors import AriError, ChannelGone, NotInStasis
from ivr.ari.protocol import AriRest

__all__ = ["ActionLog", "Decision", "LocalView", "Reconciler", "decide"]

log = logging.getLogger(__name__)

Action = Literal["adopt", "continue", "hangup", "forget"]
SHED_LABEL = "shed"  # the same label the flow router sheds calls to (ivr/flows/router.py)


@dataclass(frozen=True)
class Decision:
    channel_id: str
    action: Action
    reason: str


class LocalView(Protocol):
    """What the controller knows (the :class:`~ivr.ari.dispatcher.Dispatcher`)."""

    def flow_channels(self) -> frozenset[str]: ...

    def tracks(self, channel_id: str) -> bool: ...

    def ended_recently(self, channel_id: str) -> bool: ...

    def failed_recently(self, channel_id: str) -> bool: ...


class ActionLog(Protocol):
    def reconciled(self, action: str) -> None: ...


def decide(channels: Iterable[Any], local: LocalView, app: str) -> list[Decision]:
    """The differences between Asterisk's ``channels`` and ``local``, each with its action."""
    decisions: list[Decision] = []
    live: set[str] = set()
    for channel in channels:
        if not isinstance(channel, dict) or not isinstance(channel.get("id"), str):
            continue
        cid = channel["id"]
        live.add(cid)
        if local.tracks(cid) or stasis_args(channel, app) is None:
            continue
        if not local.ended_recently(cid):
            decisions.append(Decision(cid, "adopt", "in the application without a flow"))
        elif local.failed_recently(cid):
            decisions.append(Decision(cid, "continue", "its flow failed on ARI"))
        else:
            decisions.append(Decision(cid, "hangup", "its flow ended, the channel stayed"))
    for cid in sorted(local.flow_channels() - live):
        decisions.append(Decision(cid, "forget", "Asterisk has no such channel"))
    return decisions


class Reconciler:
    """Runs :func:`decide` every ``interval`` seconds and carries out confirmed decisions."""

    def __init__(
        self,
        rest: AriRest,
        dispatcher: Dispatcher,
        app: str,
        *,
        interval: float,
        actions: ActionLog,
        connected: Callable[[], bool],
    ) -> None:
        self._rest = rest
        self._dispatcher = dispatcher
        self._app = app
        self._interval = interval
        self._actions = actions
        self._connected = connected
        self._suspects: dict[tuple[str, Action], Decision] = {}
        self.passes = 0

    async def run(self) -> None:
        while True:
            await asyncio.sleep(self._interval)
            try:
                await self.reconcile()
            except AriError as exc:
                log.warning("reconciler: listing channels failed: %s", exc)
            except Exception:  # a bug here must not end the reconciling
                log.exception("reconciler: pass failed")

    async def reconcile(self) -> list[Decision]:
        """One pass: returns the decisions acted on."""
        if not self._connected():
            self._suspects.clear()
            return []
        channels = await self._rest.request("GET", "/channels")
        by_id: dict[str, dict[str, Any]] = {}
        for channel in channels if isinstance(channels, list) else []:
            if isinstance(channel, dict) and isinstance(channel.get("id"), str):
                by_id[channel["id"]] = channel
        found = {
            (d.channel_id, d.action): d for d in decide(by_id.values(), self._dispatcher, self._app)
        }
        confirmed = [d for key, d in found.items() if key in self._suspects]
        self._suspects = {key: d for key, d in found.items() if key not in self._suspects}
        self.passes += 1
        if confirmed:
            await asyncio.gather(*(self._act(d, by_id.get(d.channel_id)) for d in confirmed))
        return confirmed

    async def _act(self, decision: Decision, channel: dict[str, Any] | None) -> None:
        cid = decision.channel_id
        log.warning("channel=%s reconciler: %s (%s)", cid, decision.action, decision.reason)
        try:
            if decision.action == "adopt":
                assert channel is not None
                args = stasis_args(channel, self._app)
                if self._dispatcher.tracks(cid) or args is None:
                    return  # its StasisStart arrived meanwhile, or it left
                self._dispatcher.start_orphan(channel, args)
            elif decision.action == "forget":
                if cid not in self._dispatcher.flow_channels():
                    return
                self._dispatcher.end_vanished(cid, "gone (found by the reconciler)")
            elif decision.action == "continue":
                await self._continue(cid)
            else:
                await self._hangup(cid)
        except AriError as exc:
            self._actions.reconciled("failed")
            log.warning("channel=%s reconciler: %s failed: %s", cid, decision.action, exc)
            return
        self._actions.reconciled(decision.action)

    async def _continue(self, cid: str) -> None:
        try:
            await self._rest.request(
                "POST", f"/channels/{cid}/continue", params={"label": SHED_LABEL}
            )
        except ChannelGone:
            # No such label in its extension (or the channel just went): hang up instead.
            log.info("channel=%s reconciler: no dialplan label %s; hanging up", cid, SHED_LABEL)
            await self._hangup(cid)
        except NotInStasis:
            log.info("channel=%s reconciler: left the application meanwhile", cid)

    async def _hangup(self, cid: str) -> None:
        try:
            await self._rest.request("DELETE", f"/channels/{cid}", params={"reason": "normal"})
        except (ChannelGone, NotInStasis):
            log.info("channel=%s reconciler: already gone", cid)
