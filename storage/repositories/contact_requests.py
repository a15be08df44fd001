"""Callback / contact requests: intake from written channels, claiming and handling.

Requests left during a call arrive through the recorder (``ContactRequested``). Written
contacts (SMS, e-mail, chat, web form) arrive through :meth:`ContactRequestRepository.submit`,
idempotently: a gateway's retry with the same idempotency key lands on the original request
(a unique index on ``(tenant_id, idempotency_key)`` and ``INSERT ... ON CONFLICT DO NOTHING``
make even two racing submissions create one case and one request), and a different submission
reusing a key is refused with :class:`IdempotencyMismatch`.

A request of a person under a processing restriction (GDPR art. 18, :mod:`.restrictions`)
is still stored, so nothing the person sends is lost, but its case is marked restricted: it is
never claimed, and :meth:`ContactRequestRepository.list_open` shows only that it exists
(``restricted``, no name, number, address or text).

Agents claim the oldest open request with ``FOR UPDATE SKIP LOCKED``, so several consoles or
controllers never hand the same request to two agents. ``last_agent_id`` is whoever handled it
last. :meth:`ContactRequestRepository.act` is the agents' API: complete, release or cancel,
checked against who holds the claim, with an audit row in the same transaction.

Errors (besides :mod:`storage.errors`)::

    Conflict
    ├── IdempotencyMismatch   the key was used before for a different submission
    └── WrongState            the request is not in a state that allows this (closed, unclaimed)
    Forbidden
    └── NotClaimant           another agent holds the claim
"""

from __future__ import annotations

import uuid
from collections.abc import Collection
from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum

from sqlalchemy import exists, func, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from storage.domain import Actor, ContactRequestView
from storage.errors import Conflict, Forbidden, NotFound, StorageError
from storage.events import Channel, ContactStatus, Outcome
from storage.models import Case, ContactRequest
from storage.repositories._uow import transaction
from storage.repositories.audit import AuditLog
from storage.repositories.restrictions import covers_request, restricted_in

_CLOSED = (ContactStatus.DONE.value, ContactStatus.CANCELLED.value)


class IdempotencyMismatch(Conflict):
    """The idempotency key was used before, for a different submission."""


class WrongState(Conflict):
    """The request's status does not allow the action (already closed, not claimed...)."""


class NotClaimant(Forbidden):
    """Another agent holds the claim on the request."""


class AgentAction(StrEnum):
    COMPLETE = "complete"
    RELEASE = "release"
    CANCEL = "cancel"


@dataclass(frozen=True, slots=True)
class Intake:
    """What :meth:`ContactRequestRepository.submit` did: ``created`` False for a repeat."""

    request: ContactRequestView
    created: bool


class _Repeat(Exception):
    """Raised inside the intake transaction to roll back the case of a duplicate."""


def request_view(r: ContactRequest, *, restricted: bool = False) -> ContactRequestView:
    """The request as agents see it; a ``restricted`` one without its personal data."""
    view = ContactRequestView(
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
    if not restricted:
        return view
    return replace(view, callback_number=None, name=None, email=None, message=None, restricted=True)


class ContactRequestRepository:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def submit(
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
        idempotency_key: str | None = None,
        request_hash: str | None = None,
    ) -> Intake:
        """Open a case and its request, once per ``idempotency_key`` (with the submission's
        ``request_hash``): a repeat returns the original (``created`` False) and a different
        submission under the same key raises :class:`IdempotencyMismatch`. A person under an
        active processing restriction gets a restricted case (stored, never handed out)."""
        if (idempotency_key is None) != (request_hash is None):
            raise ValueError("idempotency_key and request_hash go together")
        if idempotency_key is not None and request_hash is not None:
            earlier = await self._by_key(tenant_id, idempotency_key)
            if earlier is not None:
                return _repeat(earlier, request_hash)
        case_id = uuid.uuid4()
        values = dict(
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
            idempotency_key=idempotency_key,
            request_hash=request_hash,
        )
        try:
            async with transaction(self._sessions) as s:
                restricted = await restricted_in(s, tenant_id, number=number, email=email)
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
                        restricted_at=at if restricted else None,
                    )
                )
                await s.flush()
                new_id = await s.scalar(
                    pg_insert(ContactRequest)
                    .values(**values)
                    .on_conflict_do_nothing(index_elements=["tenant_id", "idempotency_key"])
                    .returning(ContactRequest.id)
                )
                if new_id is None:  # a racing submission with the same key committed first
                    raise _Repeat
                row = await s.get(ContactRequest, new_id)
                assert row is not None
                return Intake(request_view(row, restricted=restricted), created=True)
        except _Repeat:
            assert idempotency_key is not None and request_hash is not None
            earlier = await self._by_key(tenant_id, idempotency_key)
            if earlier is None:
                raise StorageError("idempotent intake: the conflicting request vanished") from None
            return _repeat(earlier, request_hash)

    async def _by_key(
        self, tenant_id: uuid.UUID, key: str
    ) -> tuple[ContactRequestView, str | None] | None:
        """The request submitted under ``key`` and its submission hash."""
        async with transaction(self._sessions) as s:
            row = await s.scalar(
                select(ContactRequest).where(
                    ContactRequest.tenant_id == tenant_id, ContactRequest.idempotency_key == key
                )
            )
            return None if row is None else (request_view(row), row.request_hash)

    async def get(self, request_id: uuid.UUID) -> ContactRequestView:
        async with transaction(self._sessions) as s:
            row = await s.get(ContactRequest, request_id)
            if row is None:
                raise NotFound("contact request", request_id)
            return request_view(row)

    async def list_open(
        self,
        tenant_id: uuid.UUID,
        *,
        queue: str | None = None,
        channels: Collection[Channel] | None = None,
        limit: int = 100,
    ) -> list[ContactRequestView]:
        """Open and claimed requests, oldest first. A restricted one (its case is marked, or
        an active restriction covers it) shows only that it exists: no personal data."""
        restricted = or_(Case.restricted_at.is_not(None), covers_request()).label("restricted")
        stmt = (
            select(ContactRequest, restricted)
            .join(Case, Case.id == ContactRequest.case_id)
            .where(
                ContactRequest.tenant_id == tenant_id,
                ContactRequest.status.in_([ContactStatus.OPEN.value, ContactStatus.CLAIMED.value]),
            )
        )
        if queue is not None:
            stmt = stmt.where(ContactRequest.queue == queue)
        if channels is not None:
            stmt = stmt.where(ContactRequest.channel.in_([c.value for c in channels]))
        stmt = stmt.order_by(ContactRequest.requested_at, ContactRequest.id).limit(limit)
        async with transaction(self._sessions) as s:
            rows = (await s.execute(stmt)).all()
            return [request_view(r, restricted=bool(hidden)) for r, hidden in rows]

    async def claim_next(
        self,
        tenant_id: uuid.UUID,
        agent_id: uuid.UUID,
        now: datetime,
        *,
        queue: str | None = None,
        channels: Collection[Channel] | None = None,
        actor: Actor | None = None,
    ) -> ContactRequestView | None:
        """The oldest open request (of ``queue`` and ``channels`` if given), now claimed by
        ``agent_id`` (None if there is none). A request the callback dialer is dialling right
        now, or whose person is under a processing restriction (the case is marked, or an active
        restriction names its number or e-mail), is never handed out. With ``actor`` the claim
        is audited in the same transaction."""
        unrestricted_case = exists().where(
            Case.id == ContactRequest.case_id, Case.restricted_at.is_(None), ~covers_request()
        )
        stmt = (
            select(ContactRequest)
            .where(
                ContactRequest.tenant_id == tenant_id,
                ContactRequest.status == ContactStatus.OPEN.value,
                ContactRequest.personal_data_erased_at.is_(None),
                ContactRequest.dialing_by.is_(None),
                unrestricted_case,
            )
            .order_by(ContactRequest.requested_at, ContactRequest.id)
            .limit(1)
            .with_for_update(skip_locked=True)
        )
        if queue is not None:
            stmt = stmt.where(ContactRequest.queue == queue)
        if channels is not None:
            stmt = stmt.where(ContactRequest.channel.in_([c.value for c in channels]))
        async with transaction(self._sessions) as s:
            row = await s.scalar(stmt)
            if row is None:
                return None
            row.status = ContactStatus.CLAIMED.value
            row.claimed_by = agent_id
            row.claimed_at = now
            await s.flush()
            if actor is not None:
                await _audit(s, actor, "contact_request.claim", row)
            return request_view(row)

    async def act(
        self,
        request_id: uuid.UUID,
        action: AgentAction,
        *,
        tenant_id: uuid.UUID,
        agent_id: uuid.UUID,
        now: datetime,
        actor: Actor,
        admin: bool = False,
    ) -> ContactRequestView:
        """An agent completes, releases (back to the queue, unhandled) or cancels a request of
        ``tenant_id``. Complete and release need the agent's own claim (an ``admin`` may act on
        anyone's); cancel also takes an open request. Audited in the same transaction.

        Raises NotFound (also for another tenant's request), WrongState, NotClaimant."""
        async with transaction(self._sessions) as s:
            row = await s.get(ContactRequest, request_id, with_for_update=True)
            if row is None or row.tenant_id != tenant_id:
                raise NotFound("contact request", request_id)
            if row.status in _CLOSED:
                raise WrongState(f"contact request {request_id} is already {row.status}")
            claimed = row.status == ContactStatus.CLAIMED.value
            if action is not AgentAction.CANCEL and not claimed:
                raise WrongState(f"contact request {request_id} is not claimed: claim it first")
            if claimed and row.claimed_by != agent_id and not admin:
                raise NotClaimant(f"contact request {request_id} is claimed by another agent")
            if row.dialing_by is not None:
                raise WrongState(f"contact request {request_id} is being dialled right now")
            claimed_at = row.claimed_at
            previous = row.status
            row.claimed_by = None
            row.claimed_at = None
            if action is AgentAction.RELEASE:
                row.status = ContactStatus.OPEN.value
            else:
                row.status = (
                    ContactStatus.DONE.value
                    if action is AgentAction.COMPLETE
                    else ContactStatus.CANCELLED.value
                )
                row.closed_at = now
                row.last_agent_id = agent_id
                row.last_handled_at = now
                if action is AgentAction.COMPLETE:
                    row.attempts += 1
            await s.flush()
            if action is AgentAction.COMPLETE and row.channel != Channel.PHONE.value:
                await _end_written_case(s, row.case_id, agent_id, claimed_at or now, now)
            await _audit(s, actor, f"contact_request.{action.value}", row, previous=previous)
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


async def _audit(
    s: AsyncSession, actor: Actor, action: str, row: ContactRequest, *, previous: str | None = None
) -> None:
    """An audit row naming the request, its channel and queue: no personal data."""
    details: dict[str, str] = {"channel": row.channel, "status": row.status}
    if row.queue is not None:
        details["queue"] = row.queue
    if previous is not None:
        details["previous"] = previous
    await AuditLog.append_in(
        s,
        action,
        actor,
        tenant_id=row.tenant_id,
        target_type="contact_request",
        target_id=row.id,
        details=details,
    )


def _repeat(earlier: tuple[ContactRequestView, str | None], request_hash: str) -> Intake:
    view, stored_hash = earlier
    if stored_hash != request_hash:
        raise IdempotencyMismatch(
            f"idempotency key already used for contact request {view.id} with a different "
            "submission",
            constraint="ix_contact_requests_tenant_id_idempotency_key",
        )
    return Intake(view, created=False)


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
