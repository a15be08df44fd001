"""Disruption bulletin (Häiriöinfo): answer, play what is in force for the dialled number,
hang up. Stores no personal data: only the anonymous counters."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterable
from typing import Protocol

from ivr.ari.call import Call
from ivr.bulletins.state import NumberState
from ivr.clock import Clock

log = logging.getLogger(__name__)

# Asterisk core sound played when a number is routed here but has no bulletin service.
NOT_IN_SERVICE = "sound:ss-noservice"


class BulletinSource(Protocol):
    def state(self, number: str) -> NumberState | None: ...


class CallCounting(Protocol):
    def count(self, number_id: uuid.UUID, bulletin_ids: Iterable[uuid.UUID | None]) -> None: ...


class AnnouncementFlow:
    name = "announcement"

    def __init__(self, bulletins: BulletinSource, counter: CallCounting, clock: Clock) -> None:
        self._bulletins = bulletins
        self._counter = counter
        self._clock = clock

    async def run(self, call: Call, tenant: str) -> None:
        await call.answer()
        await self.serve_number(call, call.dialed, tenant=tenant)

    async def serve_number(self, call: Call, number: str, *, tenant: str | None = None) -> None:
        """Play the bulletins in force for ``number`` on an answered call, then hang up."""
        cid = call.channel_id
        state = self._bulletins.state(number)
        if state is None:
            log.error("[%s] number %r has no bulletin service; playing not-in-service", cid, number)
            await call.play(NOT_IN_SERVICE)
            await call.hangup()
            return
        if tenant is not None and state.tenant != tenant:
            log.warning(
                "[%s] dialplan says tenant %r but number %s belongs to %r",
                cid,
                tenant,
                state.number,
                state.tenant,
            )
        active = state.active(self._clock())
        if active:
            media = [p.media for p in active]
            self._counter.count(state.number_id, [p.bulletin_id for p in active])
        else:
            media = [state.no_disruptions.media]
            self._counter.count(state.number_id, [None])
        ids = ", ".join(str(p.bulletin_id) for p in active) or "none"
        log.info("[%s] playing %d item(s) on %s (bulletins %s)", cid, len(media), state.number, ids)
        await call.play(media, lang=state.language)
        log.info("[%s] bulletin finished, hanging up", cid)
        await call.hangup()
