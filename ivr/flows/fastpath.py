"""The bulletin fast path: a StasisStart of the announcement flow whose number's fallback file
holds what is in force (a call the dialplan did not serve alone, :mod:`ivr.bulletins.direct`:
its number's extension has no direct check, or the check's second has just passed, or
``LINJA_BULLETIN_DIRECT`` is off) is served straight from the dispatcher
(:class:`~ivr.ari.dispatcher.FastPath`), with no :class:`~ivr.ari.call.Call` and no flow:
counted, then handed to ``linja-fallback,<number>,bulletin`` in one ``continue``, as the
lean path of :class:`~ivr.flows.announcement.AnnouncementFlow` does, at a fraction of its
CPU.

It keeps what the router and the flow guarantee: the admission gate is asked first (a shed
call goes to the ``shed`` label, counted in the shed tallies and metrics, not as a bulletin
call); an admitted call is counted (the journalled anonymous counters) and told to the flow
metrics as started and ended; ``continue`` is retried by the ARI client (it is idempotent).

Once requests go over the event websocket (``now``, :meth:`ivr.ari.wsrest.WsRest.send_now`),
the ``continue`` is written while the StasisStart is read and settled from its answer, with
no task (:class:`~ivr.ari.dispatcher.FastSent`); an answer that is a failure, a time-out or
a closed socket sends it again as the task would have, with the retries and the handling of
each refusal below.

Anything else takes the full path: a number without bulletin service, a fallback file not
current, Stasis arguments of another flow. A dialplan without the ``bulletin`` label (404)
makes the call a flow after all (answered and played through ARI, counted once), and the
number then always takes the full path. A failure on ARI goes up to the dispatcher, which
continues the call at its ``shed`` label or leaves it to the reconciler.

Logging: one INFO line a second (at most) names every channel handed to a fallback file in
that second, with its number and bulletins (``[<channel>,<channel>,...] playing ...``), so
an operator finds a channel by grepping its id; each channel also gets a DEBUG line. The
calls the dialplan served alone are named the same way (:mod:`ivr.bulletins.heard`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Any

from ivr.ari.call import Call
from ivr.ari.channels import continue_at, continue_now, continue_params, hang_up
from ivr.ari.dispatcher import FastSent, FastWork, Handler
from ivr.ari.errors import AriError, ChannelGone, NotInStasis
from ivr.ari.protocol import AriRest, SendsNow
from ivr.ari.reconciler import SHED_LABEL
from ivr.bulletins.state import NumberState
from ivr.clock import Clock
from ivr.flows.announcement import (
    FALLBACK_CONTEXT,
    FALLBACK_LABEL,
    AnnouncementFlow,
    BulletinSource,
    CallCounting,
    FallbackFiles,
)
from ivr.flows.router import Admission, FlowEvents

__all__ = ["BulletinFastPath", "HandedLog"]

log = logging.getLogger(__name__)

FLOW = AnnouncementFlow.name


class HandedLog:
    """Batches the "handed to its fallback file" lines: one INFO line per (number,
    bulletins) a ``interval`` seconds, naming every channel."""

    def __init__(self, interval: float = 1.0) -> None:
        self._interval = interval
        self._pending: dict[tuple[str, int, str], list[str]] = {}
        self._timer: asyncio.TimerHandle | None = None

    def add(self, channel_id: str, number: str, items: int, ids: str) -> None:
        log.debug("[%s] handed to the fallback file of %s", channel_id, number)
        self._pending.setdefault((number, items, ids), []).append(channel_id)
        if self._timer is None:
            self._timer = asyncio.get_running_loop().call_later(self._interval, self.flush)

    def flush(self) -> None:
        self._timer = None
        pending, self._pending = self._pending, {}
        for (number, items, ids), channels in pending.items():
            log.info(
                "[%s] playing %d item(s) on %s (bulletins %s) from its fallback file",
                ",".join(channels),
                items,
                number,
                ids,
            )


class BulletinFastPath:
    """Implements :class:`ivr.ari.dispatcher.FastPath` for the announcement flow."""

    def __init__(
        self,
        rest: AriRest,
        bulletins: BulletinSource,
        fallback: FallbackFiles,
        counter: CallCounting,
        clock: Clock,
        *,
        flow: AnnouncementFlow,
        admission: Callable[[], Admission],
        events: Callable[[], FlowEvents],
        shed: Callable[[str], None],
        handed: HandedLog | None = None,
        now: SendsNow | None = None,
    ) -> None:
        self._rest = rest
        self._now = now
        self._bulletins = bulletins
        self._fallback = fallback
        self._counter = counter
        self._clock = clock
        self._flow = flow
        self._admission = admission
        self._events = events
        self._shed = shed
        self._handed = handed or HandedLog()
        self._no_label: set[str] = set()  # numbers whose dialplan lacks the bulletin label
        self._shown: dict[tuple[Any, ...], str] = {}  # bulletin ids -> as the log names them

    def take(self, channel_id: str, event: dict[str, Any]) -> FastWork | FastSent | None:
        args = event.get("args")
        if not isinstance(args, list) or len(args) < 2 or args[0] != FLOW:
            return None
        channel = event.get("channel")
        dialplan = channel.get("dialplan") if isinstance(channel, dict) else None
        exten = dialplan.get("exten") if isinstance(dialplan, dict) else None
        if not isinstance(exten, str) or exten in self._no_label:
            return None
        state = self._bulletins.state(exten)
        if state is None or state.tenant != args[1]:
            return None  # the full path says what is wrong
        reason = self._admission().refuse(FLOW)
        if reason is not None:
            self._shed(FLOW)
            self._events().flow_shed(FLOW, reason)
            log.info(
                "[%s] %s call shed (%s): continues at dialplan label %s",
                channel_id,
                FLOW,
                reason,
                SHED_LABEL,
            )
            return self._send_to_shed(channel_id)
        active = state.active(self._clock())
        media = state.media(active)
        if not self._fallback.fallback_plays(state.number, media):
            return None
        ids = [p.bulletin_id for p in active]
        self._counter.count(state.number_id, ids or [None])
        self._events().flow_started(FLOW)
        shown = self._shown.get(tuple(ids))
        if shown is None:
            if len(self._shown) >= 1024:
                self._shown.clear()
            shown = self._shown[tuple(ids)] = ", ".join(map(str, ids)) or "none"
        return self._sent(channel_id, state, media, shown) or self._hand_back(
            channel_id, state, media, shown
        )

    def _sent(self, cid: str, state: NumberState, media: list[str], ids: str) -> FastSent | None:
        """The continue written at once, settled from its answer with no task; any failure
        sends it again as :meth:`_hand_back` (a task, with retries and each refusal's
        handling). None when requests go over HTTP now."""
        if self._now is None:
            return None
        sent = FastSent()

        def answered(status: int, error: AriError | None) -> None:
            if error is not None:
                sent.settle(self._hand_back(cid, state, media, ids))
                return
            self._events().flow_ended(FLOW)
            self._handed.add(cid, state.number, len(media), ids)
            sent.settle(None)

        params = continue_params(FALLBACK_LABEL, FALLBACK_CONTEXT, state.number)
        return sent if continue_now(self._now, cid, params, answered) else None

    async def _hand_back(
        self, cid: str, state: NumberState, media: list[str], ids: str
    ) -> Handler | None:
        ended = True
        try:
            await continue_at(
                self._rest,
                cid,
                context=FALLBACK_CONTEXT,
                extension=state.number,
                label=FALLBACK_LABEL,
            )
        except ChannelGone:
            self._no_label.add(state.number)
            log.warning(
                "[%s] dialplan refused %s,%s,%s; playing through ARI (and so from now on)",
                cid,
                FALLBACK_CONTEXT,
                state.number,
                FALLBACK_LABEL,
            )
            ended = False
            return self._played(state, media, ids)
        except NotInStasis as exc:
            log.info("[%s] gone before its bulletin (HTTP %d)", cid, exc.status)
            return None
        finally:
            if ended:
                self._events().flow_ended(FLOW)
        self._handed.add(cid, state.number, len(media), ids)
        return None

    def _played(self, state: NumberState, media: list[str], ids: str) -> Handler:
        """The rest of the call as a flow: answered and played through ARI (counted
        already)."""

        async def play(call: Call) -> None:
            try:
                await call.answer()
                await self._flow.play_counted(call, state, media, ids)
            finally:
                self._events().flow_ended(FLOW)

        return play

    async def _send_to_shed(self, cid: str) -> Handler | None:
        try:
            await continue_at(self._rest, cid, label=SHED_LABEL)
        except ChannelGone as exc:  # no such label (or the caller is gone)
            log.error("[%s] shedding to label %s failed (%s); hanging up", cid, SHED_LABEL, exc)
            with contextlib.suppress(ChannelGone, NotInStasis):
                await hang_up(self._rest, cid, "congestion")
            return None
        except NotInStasis as exc:
            log.info("[%s] gone before it was shed (HTTP %d)", cid, exc.status)
            return None
        log.info("channel=%s continues in dialplan {'label': '%s'}", cid, SHED_LABEL)
        return None
