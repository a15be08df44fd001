"""Disruption bulletin (Häiriöinfo): play what is in force for the dialled number, hang up.
Stores no personal data: only the anonymous counters.

The lean path: when the number's fallback file (``<fallback dir>/<number>.wav``, which the
dialplan plays while the controller is down) holds exactly what is in force now, the call is
counted and handed back to the dialplan with one ``continue`` to
``linja-fallback,<number>,bulletin``, which answers and plays that file: one ARI request a
call instead of answer, play, its events and hang-up. Otherwise (no fallback file, one not
yet rewritten after a bulletin change, or a dialplan without that label) the flow answers
and plays the bulletins itself, as it always did. The controller normally serves the lean
path without this flow at all (:mod:`ivr.flows.fastpath`, from the dispatcher); this flow's
own lean path remains for calls the fast path leaves to it.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterable, Sequence
from typing import Protocol

from ivr.ari.call import Call
from ivr.bulletins.state import NumberState
from ivr.clock import Clock

log = logging.getLogger(__name__)

# Asterisk core sound played when a number is routed here but has no bulletin service.
NOT_IN_SERVICE = "sound:ss-noservice"

# Where a bulletin call is handed back to the dialplan (dialplan/linja.conf): answers and
# plays /var/lib/linja/fallback/<number>.
FALLBACK_CONTEXT = "linja-fallback"
FALLBACK_LABEL = "bulletin"


class BulletinSource(Protocol):
    def state(self, number: str) -> NumberState | None: ...


class FallbackFiles(Protocol):
    def fallback_plays(self, number: str, media: Sequence[str]) -> bool:
        """Whether ``number``'s fallback file is there and holds exactly ``media``."""
        ...


class CallCounting(Protocol):
    def count(self, number_id: uuid.UUID, bulletin_ids: Iterable[uuid.UUID | None]) -> None: ...


class AnnouncementFlow:
    name = "announcement"

    def __init__(
        self,
        bulletins: BulletinSource,
        counter: CallCounting,
        clock: Clock,
        *,
        fallback: FallbackFiles | None = None,
    ) -> None:
        self._bulletins = bulletins
        self._counter = counter
        self._clock = clock
        self._fallback = fallback

    async def run(self, call: Call, tenant: str) -> None:
        state = self._bulletins.state(call.dialed)
        if state is None or self._fallback is None:
            await call.answer()
            await self.serve_number(call, call.dialed, tenant=tenant)
            return
        media, ids = self._in_force(call, state, tenant)
        if self._fallback.fallback_plays(state.number, media):
            handed = await call.hand_back(
                context=FALLBACK_CONTEXT, extension=state.number, label=FALLBACK_LABEL
            )
            if handed:
                log.info(
                    "[%s] playing %d item(s) on %s (bulletins %s) from its fallback file",
                    call.channel_id,
                    len(media),
                    state.number,
                    ids,
                )
                return
            log.warning(
                "[%s] dialplan refused %s,%s,%s; playing through ARI",
                call.channel_id,
                FALLBACK_CONTEXT,
                state.number,
                FALLBACK_LABEL,
            )
        await call.answer()
        await self._play(call, state, media, ids)

    async def serve_number(self, call: Call, number: str, *, tenant: str | None = None) -> None:
        """Play the bulletins in force for ``number`` on an answered call, then hang up."""
        state = self._bulletins.state(number)
        if state is None:
            log.error(
                "[%s] number %r has no bulletin service; playing not-in-service",
                call.channel_id,
                number,
            )
            await call.play(NOT_IN_SERVICE)
            await call.hangup()
            return
        media, ids = self._in_force(call, state, tenant)
        await self._play(call, state, media, ids)

    def _in_force(
        self, call: Call, state: NumberState, tenant: str | None
    ) -> tuple[list[str], str]:
        """The media a call to ``state``'s number plays now, and the bulletin ids for the
        log; counts the call."""
        if tenant is not None and state.tenant != tenant:
            log.warning(
                "[%s] dialplan says tenant %r but number %s belongs to %r",
                call.channel_id,
                tenant,
                state.number,
                state.tenant,
            )
        active = state.active(self._clock())
        if active:
            self._counter.count(state.number_id, [p.bulletin_id for p in active])
            return [p.media for p in active], ", ".join(str(p.bulletin_id) for p in active)
        self._counter.count(state.number_id, [None])
        return [state.no_disruptions.media], "none"

    async def play_counted(
        self, call: Call, state: NumberState, media: list[str], ids: str
    ) -> None:
        """Play ``media`` (what is in force on ``state``'s number, the call counted already)
        on an answered call, then hang up."""
        await self._play(call, state, media, ids)

    async def _play(self, call: Call, state: NumberState, media: list[str], ids: str) -> None:
        cid = call.channel_id
        log.info("[%s] playing %d item(s) on %s (bulletins %s)", cid, len(media), state.number, ids)
        await call.play(media, lang=state.language)
        log.info("[%s] bulletin finished, hanging up", cid)
        await call.hangup()
