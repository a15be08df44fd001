"""Reading cases (one, a tenant's list searched and paged), and the data-subject operations
on them (rectify, restrict).

Cases are written by the recorder (:mod:`storage.recorder`), not here. Erasure is in
:mod:`storage.repositories.erasures`; retention of case personal data is
:meth:`CaseRepository.blank_expired_batch` (the sweeper calls it batch by batch).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import (
    ARRAY,
    ColumnElement,
    Interval,
    Uuid,
    any_,
    bindparam,
    cast,
    exists,
    func,
    or_,
    select,
    tuple_,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from storage.domain import Actor, CaseStepView, CaseView, QueueEntryView
from storage.errors import NotFound
from storage.events import CaseStepKind, Channel, Outcome
from storage.models import Case, CaseStep, ContactRequest, QueueEntry, Tenant, User
from storage.models.cases import BLANK_MENU_STEP, PERSONAL_REQUEST_FIELDS
from storage.repositories._uow import timestamptz, transaction
from storage.repositories.audit import AuditLog
from storage.repositories.restrictions import covers_case

# The idempotency key and the hash of the submission go too: the hash is of personal data.
BLANK_REQUEST: dict[str, None] = dict.fromkeys(
    (*PERSONAL_REQUEST_FIELDS, "idempotency_key", "request_hash")
)


@dataclass(frozen=True, slots=True)
class BlankedBatch:
    """One retention transaction: cases and contact requests blanked, and the start time of
    the newest case blanked (None when there was nothing to do): the next batch starts
    there."""

    cases: int
    contact_requests: int
    last: datetime | None


def step_view(e: CaseStep) -> CaseStepView:
    return CaseStepView(
        kind=e.kind,
        seq=e.seq,
        at=e.at,
        result=e.result,
        ended_at=e.ended_at,
        menu=e.menu,
        choice=e.choice,
        option=e.option,
        queue=e.queue,
        agent_login=e.agent_login,
        agent_id=e.agent_id,
    )


def case_view(
    c: Case, entries: Sequence[QueueEntry] = (), steps: Sequence[CaseStep] = ()
) -> CaseView:
    return CaseView(
        id=c.id,
        tenant_id=c.tenant_id,
        service_number=c.service_number,
        channel=Channel(c.channel),
        caller_name=c.caller_name,
        caller_email=c.caller_email,
        caller_number=c.caller_number,
        started_at=c.started_at,
        service_started_at=c.service_started_at,
        agent_id=c.agent_id,
        ended_at=c.ended_at,
        outcome=None if c.outcome is None else Outcome(c.outcome),
        delay_before_service=c.delay_before_service,
        queue_wait=c.queue_wait,
        service_time=c.service_time,
        total_time=c.total_time,
        restricted_at=c.restricted_at,
        personal_data_erased_at=c.personal_data_erased_at,
        queue_entries=tuple(
            QueueEntryView(
                seq=q.seq,
                queue=q.queue,
                entered_at=q.entered_at,
                left_at=q.left_at,
                exit_reason=q.exit_reason,
                wait=q.wait,
            )
            for q in sorted(entries, key=lambda q: q.seq)
        ),
        steps=tuple(
            step_view(e) for e in sorted(steps, key=lambda e: (e.at, e.kind != "menu", e.seq))
        ),
    )


@dataclass(frozen=True, slots=True)
class CaseSearch:
    """Which of a tenant's cases to list: started in [since, until), and each given field
    equal (``queue``: the case was in that queue; ``agent_login``: served by that user)."""

    tenant_id: uuid.UUID
    since: datetime | None = None
    until: datetime | None = None
    service_number: str | None = None
    queue: str | None = None
    agent_login: str | None = None
    outcome: Outcome | None = None
    channel: Channel | None = None


@dataclass(frozen=True, slots=True)
class CaseCursor:
    """Where a page of the case list ended: the next page starts after this case."""

    started_at: datetime
    id: uuid.UUID


@dataclass(frozen=True, slots=True)
class CaseListed:
    """A case as the case list shows it: the case and its queue stays, the login of the agent
    who served it, and whether a processing restriction covers it (the case is marked, or an
    active restriction names its caller)."""

    case: CaseView
    agent_login: str | None
    restricted: bool


@dataclass(frozen=True, slots=True)
class CasePage:
    items: list[CaseListed]
    next: CaseCursor | None  # None: this was the last page


def _searched(f: CaseSearch) -> list[ColumnElement[bool]]:
    where: list[ColumnElement[bool]] = [Case.tenant_id == f.tenant_id]
    if f.since is not None:
        where.append(Case.started_at >= timestamptz(f.since))
    if f.until is not None:
        where.append(Case.started_at < timestamptz(f.until))
    if f.service_number is not None:
        where.append(Case.service_number == f.service_number)
    if f.outcome is not None:
        where.append(Case.outcome == f.outcome.value)
    if f.channel is not None:
        where.append(Case.channel == f.channel.value)
    if f.queue is not None:
        where.append(exists().where(QueueEntry.case_id == Case.id, QueueEntry.queue == f.queue))
    if f.agent_login is not None:
        agent = select(User.id).where(User.tenant_id == f.tenant_id, User.login == f.agent_login)
        where.append(Case.agent_id == agent.scalar_subquery())
    return where


async def _entries_of(
    s: AsyncSession, case_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, list[QueueEntry]]:
    """The queue stays of these cases (one array parameter, however many)."""
    if not case_ids:
        return {}
    ids = bindparam("case_ids", list(case_ids), type_=ARRAY(Uuid()))
    out: dict[uuid.UUID, list[QueueEntry]] = {}
    for q in await s.scalars(select(QueueEntry).where(QueueEntry.case_id == any_(ids))):
        out.setdefault(q.case_id, []).append(q)
    return out


async def steps_of(
    s: AsyncSession, case_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, list[CaseStep]]:
    """The timeline steps (menu attempts, agent offers) of these cases, in one statement."""
    if not case_ids:
        return {}
    ids = bindparam("case_ids", list(case_ids), type_=ARRAY(Uuid()))
    out: dict[uuid.UUID, list[CaseStep]] = {}
    for e in await s.scalars(select(CaseStep).where(CaseStep.case_id == any_(ids))):
        out.setdefault(e.case_id, []).append(e)
    return out


async def blank_menu_steps(s: AsyncSession, case_ids: Sequence[uuid.UUID]) -> int:
    """Blank what the caller chose in these cases' menus (the key and the option; the time
    and the menu stay, as the case's timings do). Returns the steps changed."""
    if not case_ids:
        return 0
    ids = bindparam("step_case_ids", list(case_ids), type_=ARRAY(Uuid()))
    done = await s.execute(
        update(CaseStep)
        .where(
            CaseStep.case_id == any_(ids),
            CaseStep.kind == CaseStepKind.MENU.value,
            or_(CaseStep.choice.is_not(None), CaseStep.option.is_not(None)),
        )
        .values(**BLANK_MENU_STEP)
        .returning(CaseStep.case_id)
    )
    return len(done.all())


class CaseRepository:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def search(
        self, f: CaseSearch, *, after: CaseCursor | None = None, limit: int = 50
    ) -> CasePage:
        """One page of the tenant's cases, newest first (ties by id), after ``after``.

        Keyset pagination on the (tenant_id, started_at, id) index: a page costs the same
        however deep it is, and a case that arrives meanwhile never shifts the pages. The
        page's queue stays come in one more statement with the ids as one array parameter."""
        if limit < 1:
            raise ValueError("limit must be at least 1")
        restricted = or_(Case.restricted_at.is_not(None), covers_case()).label("restricted")
        stmt = (
            select(Case, User.login, restricted)
            .outerjoin(User, User.id == Case.agent_id)
            .where(*_searched(f))
        )
        if after is not None:
            stmt = stmt.where(
                tuple_(Case.started_at, Case.id) < tuple_(timestamptz(after.started_at), after.id)
            )
        stmt = stmt.order_by(Case.started_at.desc(), Case.id.desc()).limit(limit + 1)
        async with transaction(self._sessions) as s:
            rows = list((await s.execute(stmt)).all())
            more = len(rows) > limit
            rows = rows[:limit]
            entries = await _entries_of(s, [c.id for c, _, _ in rows])
        items = [
            CaseListed(case_view(c, entries.get(c.id, ())), login, bool(hidden))
            for c, login, hidden in rows
        ]
        last = items[-1].case if more and items else None
        return CasePage(items, None if last is None else CaseCursor(last.started_at, last.id))

    async def listed(self, case_id: uuid.UUID) -> CaseListed:
        """One case as the case list shows it, with its queue stays (NotFound if none)."""
        restricted = or_(Case.restricted_at.is_not(None), covers_case()).label("restricted")
        stmt = (
            select(Case, User.login, restricted)
            .outerjoin(User, User.id == Case.agent_id)
            .where(Case.id == case_id)
        )
        async with transaction(self._sessions) as s:
            row = (await s.execute(stmt)).first()
            if row is None:
                raise NotFound("case", case_id)
            case, login, hidden = row
            entries = await _entries_of(s, [case.id])
            steps = await steps_of(s, [case.id])
        view = case_view(case, entries.get(case.id, ()), steps.get(case.id, ()))
        return CaseListed(view, login, bool(hidden))

    async def get(self, case_id: uuid.UUID) -> CaseView:
        async with transaction(self._sessions) as s:
            case = await s.get(Case, case_id)
            if case is None:
                raise NotFound("case", case_id)
            entries = list(await s.scalars(select(QueueEntry).where(QueueEntry.case_id == case_id)))
            steps = await steps_of(s, [case_id])
            return case_view(case, entries, steps.get(case_id, ()))

    async def for_tenant(
        self,
        tenant_id: uuid.UUID,
        *,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int = 100,
    ) -> list[CaseView]:
        stmt = select(Case).where(Case.tenant_id == tenant_id)
        if since is not None:
            stmt = stmt.where(Case.started_at >= since)
        if until is not None:
            stmt = stmt.where(Case.started_at < until)
        stmt = stmt.order_by(Case.started_at.desc()).limit(limit)
        async with transaction(self._sessions) as s:
            return [case_view(c) for c in await s.scalars(stmt)]

    async def find_by_contact(
        self, tenant_id: uuid.UUID, *, number: str | None = None, email: str | None = None
    ) -> list[CaseView]:
        """A data subject's cases (access / export requests), by phone number or e-mail."""
        if number is None and email is None:
            raise ValueError("give a number or an e-mail address")
        stmt = select(Case).where(Case.tenant_id == tenant_id)
        if number is not None:
            stmt = stmt.where(Case.caller_number == number)
        if email is not None:
            stmt = stmt.where(func.lower(Case.caller_email) == email.lower())
        async with transaction(self._sessions) as s:
            cases = list(await s.scalars(stmt.order_by(Case.started_at)))
            by_case = await _entries_of(s, [c.id for c in cases])
            steps = await steps_of(s, [c.id for c in cases])
        return [case_view(c, by_case.get(c.id, []), steps.get(c.id, [])) for c in cases]

    async def rectify(
        self,
        case_id: uuid.UUID,
        actor: Actor,
        *,
        caller_name: str | None = None,
        caller_email: str | None = None,
        caller_number: str | None = None,
    ) -> CaseView:
        values = {
            k: v
            for k, v in (
                ("caller_name", caller_name),
                ("caller_email", caller_email),
                ("caller_number", caller_number),
            )
            if v is not None
        }
        return await self._change(case_id, actor, "case.rectify", values)

    async def restrict(
        self, case_id: uuid.UUID, actor: Actor, *, restricted: bool = True
    ) -> CaseView:
        value = datetime.now(UTC) if restricted else None
        action = "case.restrict" if restricted else "case.unrestrict"
        return await self._change(case_id, actor, action, {"restricted_at": value})

    async def _change(
        self, case_id: uuid.UUID, actor: Actor, action: str, values: Mapping[str, object]
    ) -> CaseView:
        async with transaction(self._sessions) as s:
            case = await s.get(Case, case_id, with_for_update=True)
            if case is None:
                raise NotFound("case", case_id)
            for k, v in values.items():
                setattr(case, k, v)
            await s.flush()
            await AuditLog.append_in(
                s,
                action,
                actor,
                tenant_id=case.tenant_id,
                target_type="case",
                target_id=case_id,
                details={"fields": sorted(values)},
            )
            return case_view(case)

    async def blank_expired(self, now: datetime, actor: Actor, *, batch: int = 500) -> int:
        """Retention for every tenant, ``batch`` cases per transaction: see
        :meth:`blank_expired_batch`. Returns how many cases were blanked."""
        async with transaction(self._sessions) as s:
            tenants = list(await s.scalars(select(Tenant.id).order_by(Tenant.id)))
        total = 0
        for tenant_id in tenants:
            after: datetime | None = None
            while True:
                done = await self.blank_expired_batch(
                    tenant_id, now, actor, after=after, limit=batch
                )
                total += done.cases
                if done.last is None or done.cases < batch:
                    break
                after = done.last
        return total

    async def blank_expired_batch(
        self,
        tenant_id: uuid.UUID,
        now: datetime,
        actor: Actor,
        *,
        after: datetime | None,
        limit: int,
    ) -> BlankedBatch:
        """Retention, one transaction: blank the caller's personal data (and that of the
        case's contact requests) of up to ``limit`` of the tenant's cases older than its
        ``case_retention``, oldest first, started at ``after`` or later; timings stay. One
        audit entry with the counts.

        The cases are picked in the order of the (tenant, started_at) index, from ``after``
        on (cases blanked already are filtered out, so ties at ``after`` are safe), and the
        contact requests are matched with one array: however many cases have expired, no
        statement has more than a handful of parameters. Cases locked by someone else are
        skipped (the next sweep takes them)."""
        retention = (
            select(cast(Tenant.case_retention, Interval))
            .where(Tenant.id == tenant_id)
            .scalar_subquery()
        )
        pick = select(Case.id).where(
            Case.tenant_id == tenant_id,
            Case.personal_data_erased_at.is_(None),
            Case.started_at < timestamptz(now) - retention,
        )
        if after is not None:
            pick = pick.where(Case.started_at >= timestamptz(after))
        picked = (
            pick.order_by(Case.started_at)
            .limit(limit)
            .with_for_update(skip_locked=True)
            .cte("picked")
        )
        blank = (
            update(Case)
            .where(Case.id == picked.c.id)
            .values(
                caller_name=None,
                caller_email=None,
                caller_number=None,
                personal_data_erased_at=now,
            )
            .returning(Case.id, Case.started_at)
        )
        async with transaction(self._sessions) as s:
            rows = (await s.execute(blank)).all()
            if not rows:
                return BlankedBatch(0, 0, None)
            ids = bindparam("ids", [r[0] for r in rows], type_=ARRAY(Uuid()))
            requests = len(
                (
                    await s.execute(
                        update(ContactRequest)
                        .where(
                            ContactRequest.case_id == any_(ids),
                            ContactRequest.personal_data_erased_at.is_(None),
                        )
                        .values(**BLANK_REQUEST, personal_data_erased_at=now)
                        .returning(ContactRequest.id)
                    )
                ).all()
            )
            menu_steps = await blank_menu_steps(s, [r[0] for r in rows])
            await AuditLog.append_in(
                s,
                "retention.cases",
                actor,
                tenant_id=tenant_id,
                details={
                    "cases": len(rows),
                    "contact_requests": requests,
                    "menu_steps": menu_steps,
                },
            )
        return BlankedBatch(len(rows), requests, max(r[1] for r in rows))
