"""Callback / contact requests: intake from written channels, claiming and handling.

Requests left during a call arrive through the recorder (``ContactRequested``). Agents claim
the oldest open request with ``FOR UPDATE SKIP LOCKED``, so several consoles or controllers
never hand the same request to two agents. ``last_agent_id`` is whoever handled it last.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from storage.domain import ContactRequestView
from storage.errors import Conflict, NotFound
from storage.events import Channel, ContactStatus, Outcome
from storage.models import Case, ContactRequest
from storage.repositories._uow import transaction


def request_view(r: ContactRequest) -> ContactRequestView:
    return ContactRequestView(
        id=r.id,
        tenant_id=r.tenant_id,
        case_id=r.case_id,
        channel=Channel(r.channel),
        queue=r.queue,
        requested_at=r.requested_at,
        callback_number=r.callback_number,
        name=r.name,
        email=r.email,
        message=r.message,
        status=ContactStatus(r.status),
        claimed_by=r.claimed_by,
        claimed_at=r.claimed_at,
        attempts=r.attempts,
        last_agent_id=r.last_agent_id,
        last_handled_at=r.last_handled_at,
        closed_at=r.closed_at,
    )


class ContactRequestRepository:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def intake(
        self,
        *,
        tenant_id: uuid.UUID,
        channel: Channel,
        at: datetime,
        service_number: str | None = None,
        name: str | None = None,
        email: str | None = None,
        number: str | None = None,
        message: str | None = None,
        queue: str | None = None,
    ) -> ContactRequestView:
        """A contact by SMS, e-mail, chat or web form: opens a case and its request."""
        case_id = uuid.uuid4()
        request = ContactRequest(
            id=uuid.uuid4(),
            tenant_id=tenant_id,
            case_id=case_id,
            channel=channel.value,
            queue=queue,
            requested_at=at,
            callback_number=number,
            name=name,
            email=email,
            message=message,
            status=ContactStatus.OPEN.value,
            attempts=0,
        )
        async with transaction(self._sessions) as s:
            s.add(
                Case(
                    id=case_id,
                    tenant_id=tenant_id,
                    service_number=service_number,
                    channel=channel.value,
                    caller_name=name,
                    caller_email=email,
                    caller_number=number,
                    started_at=at,
                )
            )
            await s.flush()
            s.add(request)
            await s.flush()
            return request_view(request)

    async def get(self, request_id: uuid.UUID) -> ContactRequestView:
        async with transaction(self._sessions) as s:
            row = await s.get(ContactRequest, request_id)
            if row is None:
                raise NotFound("contact request", request_id)
            return request_view(row)

    async def list_open(
        self, tenant_id: uuid.UUID, *, queue: str | None = None, limit: int = 100
    ) -> list[ContactRequestView]:
        stmt = select(ContactRequest).where(
            ContactRequest.tenant_id == tenant_id,
            ContactRequest.status.in_([ContactStatus.OPEN.value, ContactStatus.CLAIMED.value]),
        )
        if queue is not None:
            stmt = stmt.where(ContactRequest.queue == queue)
        stmt = stmt.order_by(ContactRequest.requested_at).limit(limit)
        async with transaction(self._sessions) as s:
            return [request_view(r) for r in await s.scalars(stmt)]

    async def claim_next(
        self, tenant_id: uuid.UUID, agent_id: uuid.UUID, now: datetime, *, queue: str | None = None
    ) -> ContactRequestView | None:
        """The oldest open request, now claimed by ``agent_id`` (None if there is none)."""
        stmt = (
            select(ContactRequest)
            .where(
                ContactRequest.tenant_id == tenant_id,
                ContactRequest.status == ContactStatus.OPEN.value,
                ContactRequest.personal_data_erased_at.is_(None),
            )
            .order_by(ContactRequest.requested_at)
            .limit(1)
            .with_for_update(skip_locked=True)
        )
        if queue is not None:
            stmt = stmt.where(ContactRequest.queue == queue)
        async with transaction(self._sessions) as s:
            row = await s.scalar(stmt)
            if row is None:
                return None
            row.status = ContactStatus.CLAIMED.value
            row.claimed_by = agent_id
            row.claimed_at = now
            await s.flush()
            return request_view(row)

    async def attempted(
        self, request_id: uuid.UUID, agent_id: uuid.UUID, now: datetime
    ) -> ContactRequestView:
        """The agent tried (e.g. no answer): back to the queue, one more attempt counted."""
        return await self._handle(request_id, agent_id, now, ContactStatus.OPEN)

    async def complete(
        self, request_id: uuid.UUID, agent_id: uuid.UUID, now: datetime
    ) -> ContactRequestView:
        """Handled. A written contact's case ends here with outcome ``handled``."""
        return await self._handle(request_id, agent_id, now, ContactStatus.DONE)

    async def cancel(
        self, request_id: uuid.UUID, agent_id: uuid.UUID, now: datetime
    ) -> ContactRequestView:
        return await self._handle(request_id, agent_id, now, ContactStatus.CANCELLED)

    async def _handle(
        self, request_id: uuid.UUID, agent_id: uuid.UUID, now: datetime, status: ContactStatus
    ) -> ContactRequestView:
        async with transaction(self._sessions) as s:
            row = await s.get(ContactRequest, request_id, with_for_update=True)
            if row is None:
                raise NotFound("contact request", request_id)
            if row.status in (ContactStatus.DONE.value, ContactStatus.CANCELLED.value):
                raise Conflict(f"contact request {request_id} is already {row.status}")
            claimed_at = row.claimed_at
            row.status = status.value
            row.claimed_by = None
            row.claimed_at = None
            row.attempts += 1
            row.last_agent_id = agent_id
            row.last_handled_at = now
            if status is not ContactStatus.OPEN:
                row.closed_at = now
            await s.flush()
            if status is ContactStatus.DONE and row.channel != Channel.PHONE.value:
                await _end_written_case(s, row.case_id, agent_id, claimed_at or now, now)
            return request_view(row)


async def _end_written_case(
    s: AsyncSession,
    case_id: uuid.UUID,
    agent_id: uuid.UUID,
    served_at: datetime,
    now: datetime,
) -> None:
    served = func.coalesce(
        Case.service_started_at, func.greatest(Case.started_at, func.least(served_at, now))
    )
    ended = func.greatest(Case.started_at, now)
    await s.execute(
        update(Case)
        .where(Case.id == case_id, Case.ended_at.is_(None))
        .values(
            agent_id=func.coalesce(Case.agent_id, agent_id),
            service_started_at=served,
            delay_before_service=served - Case.started_at,
            ended_at=ended,
            outcome=Outcome.HANDLED.value,
            service_time=ended - served,
            total_time=ended - Case.started_at,
            updated_at=func.now(),
        )
    )
