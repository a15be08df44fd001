"""An open case taken over by the controller that adopted its call (issue 19).

A controller killed and restarted on the same node finds its predecessor's calls still in
its Stasis application and adopts them (the resync after connecting, the reconciler). The
case of such a call is still held by the dead controller (``cases.controller_id``), whose
heartbeat has stopped: once it is down another controller would end the case ``node_lost``
(:mod:`storage.repositories.controllers`) although its caller is still on the line.
:meth:`CaseTakeover.take` makes the case this controller's first (one ``UPDATE``, skipped
when the case was ended meanwhile) and returns it as the recorder's
:class:`~storage.timing.CaseState` (its queue stays and timeline steps as written), so the
adopting flow goes on recording the same case.
"""

from __future__ import annotations

import uuid

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from storage.events import (
    AgentOffered,
    CaseStepKind,
    Channel,
    MenuChosen,
    MenuResult,
    OfferResult,
    Outcome,
    QueueExit,
)
from storage.models import Case, CaseStep, QueueEntry
from storage.repositories._uow import transaction
from storage.timing import CaseState, QueueStay

__all__ = ["CaseTakeover"]


class CaseTakeover:
    def __init__(self, sessions: async_sessionmaker[AsyncSession], controller: str) -> None:
        self._sessions = sessions
        self._me = controller

    async def take(self, case_id: uuid.UUID) -> CaseState | None:
        """The open case, now held by this controller; None if there is no such case (never
        written); a case ended already (e.g. ``node_lost`` after a slow restart) comes back
        ended, not taken over."""
        async with transaction(self._sessions) as s:
            row = (
                await s.execute(
                    update(Case)
                    .where(Case.id == case_id, Case.ended_at.is_(None))
                    .values(controller_id=self._me)
                    .returning(Case)
                )
            ).scalar_one_or_none()
            if row is None:
                row = await s.get(Case, case_id)
            if row is None:
                return None
            return await _state(s, row)


async def _state(s: AsyncSession, c: Case) -> CaseState:
    stays = tuple(
        QueueStay(
            seq=q.seq,
            queue=q.queue,
            entered_at=q.entered_at,
            left_at=q.left_at,
            exit=None if q.exit_reason is None else QueueExit(q.exit_reason),
        )
        for q in await s.scalars(
            select(QueueEntry).where(QueueEntry.case_id == c.id).order_by(QueueEntry.seq)
        )
    )
    steps = list(
        await s.scalars(
            select(CaseStep).where(CaseStep.case_id == c.id).order_by(CaseStep.kind, CaseStep.seq)
        )
    )
    menus = tuple(
        MenuChosen(c.id, e.at, e.menu or "", MenuResult(e.result), e.choice, e.option)
        for e in steps
        if e.kind == CaseStepKind.MENU.value
    )
    offers = tuple(
        AgentOffered(
            c.id,
            e.at,
            e.queue or "",
            e.agent_login or "",
            e.ended_at or e.at,
            OfferResult(e.result),
            e.agent_id,
        )
        for e in steps
        if e.kind == CaseStepKind.OFFER.value
    )
    times = [c.started_at, c.service_started_at, *(q.entered_at for q in stays)]
    times += [q.left_at for q in stays]
    return CaseState(
        case_id=c.id,
        tenant_id=c.tenant_id,
        channel=Channel(c.channel),
        started_at=c.started_at,
        last_at=max(t for t in times if t is not None),
        service_number=c.service_number,
        caller_number=c.caller_number,
        caller_name=c.caller_name,
        caller_email=c.caller_email,
        service_started_at=c.service_started_at,
        agent_id=c.agent_id,
        ended_at=c.ended_at,
        outcome=None if c.outcome is None else Outcome(c.outcome),
        queue_stays=stays,
        menu_choices=menus,
        offers=offers,
    )
