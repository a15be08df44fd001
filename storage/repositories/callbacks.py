"""Callback requests as the dialer sees them: due requests, leases, attempts, outcomes.

Requests enter ``contact_requests`` through the case recorder (``ContactRequested``), or by
the contact-request API. The dialer of every controller lists the *due* phone requests (open,
with a number, ``next_attempt_at`` passed, no live lease, case not restricted) and puts them in
its queue engine at their virtual arrival time (``queue_entered_at``). When the engine offers
one to an agent, the controller **claims** it under the dialers' lease
(:mod:`storage.repositories._lease`: ``FOR UPDATE SKIP LOCKED``, ``dialing_by`` /
``dialing_since``), so two controllers never dial the same request. A lease is renewed while
the call goes on; a lease older than ``lease`` seconds belongs to a dead controller and may be
taken over, so a crash mid-dial resumes the request (one whose customer had answered is
closed as answered instead). With ``down_after`` (the heartbeats', as for the call-out members:
:mod:`storage.repositories._lease`) a lease whose holder is down by its heartbeat is free at
once: a lost node's requests are dialled again within the heartbeat bound, not the lease; a
holder without heartbeat rows is judged by the lease alone.

Every dial attempt is a ``callback_attempts`` row (``start_attempt`` / ``end_attempt``). A
failed customer attempt is rescheduled (``retry_later``: ``attempts`` + 1, ``next_attempt_at``)
or, after the last one, finished with outcome ``gave_up``; a reached customer finishes it with
``answered`` and closes the case as served by that agent.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, and_, func, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from storage.events import CallbackOutcome, CallbackResult, Channel, ContactStatus, Outcome
from storage.models import CallbackAttempt, Case, ContactRequest, Tenant
from storage.repositories._lease import Lease, LeaseAttempts
from storage.repositories._uow import transaction

log = logging.getLogger(__name__)

__all__ = ["AttemptView", "CallbackRepository", "CallbackRequest"]


@dataclass(frozen=True, slots=True)
class CallbackRequest:
    id: uuid.UUID
    tenant_id: uuid.UUID
    tenant: str  # slug
    case_id: uuid.UUID
    queue: str
    number: str
    place: datetime  # virtual arrival in the queue (queue_entered_at, else requested_at)
    attempts: int  # customer attempts so far
    next_attempt_at: datetime | None


@dataclass(frozen=True, slots=True)
class AttemptView:
    request_id: uuid.UUID
    attempt_no: int
    agent_login: str | None
    controller: str
    started_at: datetime
    answered_at: datetime | None
    ended_at: datetime | None
    result: CallbackResult | None


def _place() -> ColumnElement[datetime]:
    return func.coalesce(ContactRequest.queue_entered_at, ContactRequest.requested_at)


LEASE = Lease(
    ContactRequest, ContactRequest.dialing_by, ContactRequest.dialing_since, ContactRequest.id
)
ATTEMPTS = LeaseAttempts(
    parent=CallbackAttempt.request_id,
    started=CallbackAttempt.started_at,
    ended=CallbackAttempt.ended_at,
    answered=CallbackAttempt.answered_at,
    result=CallbackAttempt.result,
    interrupted=CallbackResult.INTERRUPTED.value,
)


def _dialable(
    now: datetime, lease: float, takeovers: bool = True, down_after: float | None = None
) -> ColumnElement[bool]:
    """Dialable now; with ``takeovers`` False, not a request whose expired lease another
    controller held (it may still hold the request's outcome in its spool). With
    ``down_after``, a lease whose holder is down by its heartbeat counts as expired."""
    return and_(
        LEASE.free(now, lease, takeovers=takeovers, down_after=down_after),
        ContactRequest.channel == Channel.PHONE.value,
        ContactRequest.status == ContactStatus.OPEN.value,
        ContactRequest.callback_number.is_not(None),
        ContactRequest.queue.is_not(None),
        ContactRequest.personal_data_erased_at.is_(None),
        or_(ContactRequest.next_attempt_at.is_(None), ContactRequest.next_attempt_at <= now),
        Case.restricted_at.is_(None),
    )


def _attempt_view(a: CallbackAttempt) -> AttemptView:
    return AttemptView(
        request_id=a.request_id,
        attempt_no=a.attempt_no,
        agent_login=a.agent_login,
        controller=a.controller,
        started_at=a.started_at,
        answered_at=a.answered_at,
        ended_at=a.ended_at,
        result=None if a.result is None else CallbackResult(a.result),
    )


class CallbackRepository:
    def __init__(
        self, sessions: async_sessionmaker[AsyncSession], *, down_after: float | None = None
    ) -> None:
        """``down_after``: a lease whose holder's heartbeat is that old (or who stopped) is
        expired at once (None: leases expire by their age alone)."""
        self._sessions = sessions
        self._down_after = down_after

    async def due(
        self, now: datetime, *, lease: float, limit: int = 500, takeovers: bool = True
    ) -> list[CallbackRequest]:
        """Phone callback requests that may be dialled now, oldest place first."""
        stmt = (
            select(ContactRequest, Tenant.slug)
            .join(Case, Case.id == ContactRequest.case_id)
            .join(Tenant, Tenant.id == ContactRequest.tenant_id)
            .where(_dialable(now, lease, takeovers, self._down_after))
            .order_by(_place(), ContactRequest.id)
            .limit(limit)
        )
        async with transaction(self._sessions) as s:
            return [_request(r, slug) for r, slug in (await s.execute(stmt)).all()]

    async def claim(
        self,
        request_id: uuid.UUID,
        controller: str,
        now: datetime,
        *,
        lease: float,
        takeovers: bool = True,
    ) -> CallbackRequest | None:
        """Takes the lease of a dialable request; None if it is not dialable any more or
        another controller holds it (locked rows are skipped, never waited for)."""
        stmt = (
            select(ContactRequest, Tenant.slug)
            .join(Case, Case.id == ContactRequest.case_id)
            .join(Tenant, Tenant.id == ContactRequest.tenant_id)
            .where(
                ContactRequest.id == request_id,
                _dialable(now, lease, takeovers, self._down_after),
            )
        )
        async with transaction(self._sessions) as s:
            found = (await s.execute(LEASE.claimable(stmt))).first()
            if found is None:
                return None
            row, slug = found
            if row.dialing_by is not None:
                # The lease ran out, or its holder is down by its heartbeat: its controller
                # died mid-dial. Close what it left open.
                aged = row.dialing_since is None or row.dialing_since < now - timedelta(
                    seconds=lease
                )
                log.warning(
                    "[cb %s] lease of %s %s; taken over by %s",
                    request_id, row.dialing_by,
                    "expired" if aged else "held by a controller down by its heartbeat",
                    controller,
                )  # fmt: skip
                if (await ATTEMPTS.close_dead(s, request_id, now)).answered:
                    # The customer had answered: they talked to the agent (maybe cut short)
                    # and are not called a second time.
                    log.warning(
                        "[cb %s] the interrupted attempt had reached the customer: closed as "
                        "answered, not dialled again",
                        request_id,
                    )
                    row.status = ContactStatus.DONE.value
                    row.outcome = CallbackOutcome.ANSWERED.value
                    row.attempts = row.attempts + 1
                    row.dialing_by = row.dialing_since = None
                    row.last_handled_at = row.closed_at = now
                    await s.flush()
                    return None
            LEASE.take(row, controller, now)
            await s.flush()
            return _request(row, slug)

    async def renew(self, request_id: uuid.UUID, controller: str, now: datetime) -> bool:
        """Extends the lease; False if it is no longer ours."""
        async with transaction(self._sessions) as s:
            return await LEASE.renew(s, request_id, controller, now)

    async def release(self, request_id: uuid.UUID, controller: str) -> None:
        """Gives the lease back without counting an attempt (e.g. no agent answered)."""
        async with transaction(self._sessions) as s:
            await LEASE.release(s, request_id, controller)

    async def start_attempt(
        self,
        request_id: uuid.UUID,
        controller: str,
        now: datetime,
        *,
        agent_login: str | None,
        agent_id: uuid.UUID | None,
    ) -> int:
        """A new attempt row; returns its number (1-based, over all attempts)."""
        async with transaction(self._sessions) as s:
            number = (
                await s.scalar(
                    select(func.coalesce(func.max(CallbackAttempt.attempt_no), 0)).where(
                        CallbackAttempt.request_id == request_id
                    )
                )
                or 0
            ) + 1
            await s.execute(
                insert(CallbackAttempt).values(
                    request_id=request_id,
                    attempt_no=number,
                    agent_id=agent_id,
                    agent_login=agent_login,
                    controller=controller,
                    started_at=now,
                )
            )
            return int(number)

    async def attempt_answered(self, request_id: uuid.UUID, attempt_no: int, at: datetime) -> None:
        async with transaction(self._sessions) as s:
            await s.execute(
                update(CallbackAttempt)
                .where(
                    CallbackAttempt.request_id == request_id,
                    CallbackAttempt.attempt_no == attempt_no,
                )
                .values(answered_at=func.greatest(CallbackAttempt.started_at, at))
            )

    async def end_attempt(
        self,
        request_id: uuid.UUID,
        attempt_no: int,
        result: CallbackResult,
        at: datetime,
        *,
        agent_login: str | None = None,
        agent_id: uuid.UUID | None = None,
    ) -> None:
        values: dict[str, object] = {
            "result": result.value,
            "ended_at": func.greatest(CallbackAttempt.started_at, at),
        }
        if agent_login is not None:
            values["agent_login"] = agent_login
        if agent_id is not None:
            values["agent_id"] = agent_id
        async with transaction(self._sessions) as s:
            await s.execute(
                update(CallbackAttempt)
                .where(
                    CallbackAttempt.request_id == request_id,
                    CallbackAttempt.attempt_no == attempt_no,
                )
                .values(**values)
            )

    async def retry_later(
        self,
        request_id: uuid.UUID,
        controller: str,
        now: datetime,
        next_at: datetime,
        *,
        agent_id: uuid.UUID | None,
    ) -> bool:
        """One more customer attempt used; dial again at ``next_at``. False if the lease
        was lost meanwhile (someone else owns the request now: nothing changes)."""
        async with transaction(self._sessions) as s:
            return await LEASE.release(
                s,
                request_id,
                controller,
                {
                    "attempts": ContactRequest.attempts + 1,
                    "next_attempt_at": next_at,
                    "last_agent_id": func.coalesce(agent_id, ContactRequest.last_agent_id),
                    "last_handled_at": now,
                },
            )

    async def finish(
        self,
        request_id: uuid.UUID,
        controller: str,
        outcome: CallbackOutcome,
        now: datetime,
        *,
        agent_id: uuid.UUID | None,
        counts_attempt: bool = True,
        served: tuple[datetime, datetime] | None = None,
    ) -> bool:
        """Closes the request with ``outcome`` (``answered``/``gave_up``: done; otherwise
        cancelled). ``served`` = (customer answered, call ended): the case becomes an answered
        case of ``agent_id`` with its service times. False if the lease was lost."""
        status = (
            ContactStatus.DONE
            if outcome in (CallbackOutcome.ANSWERED, CallbackOutcome.GAVE_UP)
            else ContactStatus.CANCELLED
        )
        async with transaction(self._sessions) as s:
            result = await s.execute(
                update(ContactRequest)
                .where(ContactRequest.id == request_id, ContactRequest.dialing_by == controller)
                .values(
                    status=status.value,
                    outcome=outcome.value,
                    attempts=ContactRequest.attempts + (1 if counts_attempt else 0),
                    dialing_by=None,
                    dialing_since=None,
                    last_agent_id=func.coalesce(agent_id, ContactRequest.last_agent_id),
                    last_handled_at=now,
                    closed_at=now,
                )
                .returning(ContactRequest.case_id)
            )
            case_id = result.scalar()
            if case_id is None:
                return False
            if served is not None and agent_id is not None:
                await _serve_case(s, case_id, agent_id, *served)
            elif agent_id is not None:
                await s.execute(
                    update(Case)
                    .where(Case.id == case_id, Case.agent_id.is_(None))
                    .values(agent_id=agent_id, updated_at=func.now())
                )
            return True

    async def attempts(self, request_id: uuid.UUID) -> list[AttemptView]:
        return (await self.attempts_of([request_id]))[request_id]

    async def attempts_of(
        self, request_ids: Sequence[uuid.UUID]
    ) -> dict[uuid.UUID, list[AttemptView]]:
        """The attempts of each request (in order; an empty list for one without any), in
        one query: a work list of 200 requests is one round trip, not 200."""
        found: dict[uuid.UUID, list[AttemptView]] = {r: [] for r in request_ids}
        if not found:
            return found
        async with transaction(self._sessions) as s:
            rows = await s.scalars(
                select(CallbackAttempt)
                .where(CallbackAttempt.request_id.in_(list(found)))
                .order_by(CallbackAttempt.request_id, CallbackAttempt.attempt_no)
            )
            for a in rows:
                found[a.request_id].append(_attempt_view(a))
        return found


def _request(r: ContactRequest, slug: str) -> CallbackRequest:
    assert r.queue is not None and r.callback_number is not None
    return CallbackRequest(
        id=r.id,
        tenant_id=r.tenant_id,
        tenant=slug,
        case_id=r.case_id,
        queue=r.queue,
        number=r.callback_number,
        place=r.queue_entered_at or r.requested_at,
        attempts=r.attempts,
        next_attempt_at=r.next_attempt_at,
    )


async def _serve_case(
    s: AsyncSession, case_id: uuid.UUID, agent_id: uuid.UUID, answered: datetime, ended: datetime
) -> None:
    """The callback reached the customer: the case was served by the agent from ``answered``
    to ``ended`` (never before the case started)."""
    served = func.greatest(Case.started_at, answered)
    end = func.greatest(Case.started_at, answered, ended)
    await s.execute(
        update(Case)
        .where(Case.id == case_id)
        .values(
            agent_id=agent_id,
            service_started_at=served,
            delay_before_service=served - Case.started_at,
            ended_at=end,
            outcome=Outcome.ANSWERED.value,
            service_time=end - served,
            total_time=end - Case.started_at,
            updated_at=func.now(),
        )
    )
