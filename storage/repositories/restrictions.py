"""Restriction of processing: is this caller restricted, restrict them, lift it.

Call recording asks :meth:`RestrictionRepository.is_restricted` before recording a call; the
callback dialer asks it before dialling a request. Numbers are compared in canonical E.164
form (:mod:`storage.contacts`), so ``0401234567`` and ``+358401234567`` are the same person;
e-mail addresses case-insensitively. Restricting also stamps ``restricted_at`` on the
subject's existing cases; every change is audited in the same transaction.

Requests that arrive later are covered too: written intake marks a new case restricted when an
active restriction matches it (:func:`restricted_in`), and agents' claims also skip requests an
active restriction covers (:func:`covers_request`), so a restriction committed while a request
was being stored still holds. Lifting one restriction re-opens only the cases no other active
restriction (by the other identifier) still covers.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import ColumnElement, case, exists, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import InstrumentedAttribute

from storage.contacts import (
    DEFAULT_COUNTRY,
    BadContact,
    Subject,
    normalise_email,
    normalise_number,
)
from storage.domain import Actor
from storage.errors import NotFound
from storage.models import Case, ContactRequest, SubjectRestriction
from storage.repositories._uow import transaction
from storage.repositories.audit import AuditLog


@dataclass(frozen=True, slots=True)
class RestrictionView:
    id: uuid.UUID
    tenant_id: uuid.UUID
    number: str | None
    email: str | None
    restricted_at: datetime
    restricted_by: str
    reason: str | None
    lifted_at: datetime | None
    lifted_by: str | None


def _view(r: SubjectRestriction) -> RestrictionView:
    return RestrictionView(
        id=r.id,
        tenant_id=r.tenant_id,
        number=r.number,
        email=r.email,
        restricted_at=r.restricted_at,
        restricted_by=r.restricted_by,
        reason=r.reason,
        lifted_at=r.lifted_at,
        lifted_by=r.lifted_by,
    )


def _matches(subject: Subject) -> ColumnElement[bool]:
    clauses: list[ColumnElement[bool]] = []
    if subject.number is not None:
        clauses.append(SubjectRestriction.number == subject.number)
    if subject.email is not None:
        clauses.append(SubjectRestriction.email == subject.email)
    return or_(*clauses)


def case_matches(subject: Subject) -> ColumnElement[bool]:
    """A WHERE clause for the subject's cases (any stored spelling of the number)."""
    clauses: list[ColumnElement[bool]] = []
    if subject.number is not None:
        clauses.append(Case.caller_number.in_(subject.number_forms()))
    if subject.email is not None:
        clauses.append(func.lower(Case.caller_email) == subject.email)
    return or_(*clauses)


def covers_request() -> ColumnElement[bool]:
    """True where an active restriction of the request's tenant names the number or e-mail of
    a contact request or of its case (``Case`` must be in the query). Stored values are
    compared as written intake stores them: E.164 numbers, e-mail in any case."""
    r = SubjectRestriction
    return (
        exists()
        .where(
            r.tenant_id == ContactRequest.tenant_id,
            r.lifted_at.is_(None),
            or_(
                r.number == Case.caller_number,
                r.number == ContactRequest.callback_number,
                r.email == func.lower(Case.caller_email),
                r.email == func.lower(ContactRequest.email),
            ),
        )
        .correlate(Case, ContactRequest)
    )


def _canonical_number(
    column: ColumnElement[str | None] | InstrumentedAttribute[str | None],
) -> ColumnElement[str | None]:
    """A stored phone number (as dialled: ``040…``, ``00358…``, ``358…`` or ``+358…``) in
    E.164, as restrictions hold it (the SQL side of :func:`storage.contacts.number_forms`)."""
    return case(
        (column.like("+%"), column),
        (column.like("00%"), "+" + func.substr(column, 3)),
        (column.like("0%"), f"+{DEFAULT_COUNTRY}" + func.substr(column, 2)),
        else_="+" + column,
    )


def covers_case() -> ColumnElement[bool]:
    """True where an active restriction of the case's tenant names the case's caller number
    (in any stored spelling) or e-mail (``Case`` must be in the query): a case stored after
    the restriction was made is covered too."""
    r = SubjectRestriction
    return (
        exists()
        .where(
            r.tenant_id == Case.tenant_id,
            r.lifted_at.is_(None),
            or_(
                r.number == _canonical_number(Case.caller_number),
                r.email == func.lower(Case.caller_email),
            ),
        )
        .correlate(Case)
    )


async def restricted_in(
    s: AsyncSession, tenant_id: uuid.UUID, *, number: str | None, email: str | None
) -> bool:
    """Whether an active restriction covers this number or e-mail, in the caller's
    transaction. Unparsable or missing identifiers are never restricted."""
    subject = _parse_lenient(number, email)
    if subject is None:
        return False
    stmt = (
        select(SubjectRestriction.id)
        .where(
            SubjectRestriction.tenant_id == tenant_id,
            SubjectRestriction.lifted_at.is_(None),
            _matches(subject),
        )
        .limit(1)
    )
    return (await s.scalar(stmt)) is not None


class RestrictionRepository:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def is_restricted(
        self, tenant_id: uuid.UUID, *, number: str | None = None, email: str | None = None
    ) -> bool:
        """True if processing is restricted for a person with this number or e-mail.

        A number or address that cannot be parsed (anonymous caller, garbage) is never
        restricted; giving neither is a programming error (ValueError)."""
        if number is None and email is None:
            raise ValueError("give a number or an e-mail address")
        async with transaction(self._sessions) as s:
            return await restricted_in(s, tenant_id, number=number, email=email)

    async def restrict(
        self,
        tenant_id: uuid.UUID,
        actor: Actor,
        *,
        number: str | None = None,
        email: str | None = None,
        reason: str | None = None,
        now: datetime | None = None,
    ) -> tuple[RestrictionView, int]:
        """Restrict processing; returns the restriction (an existing active one is reused)
        and how many existing cases were newly marked restricted."""
        subject = Subject.of(number=number, email=email)
        at = now or datetime.now(UTC)
        async with transaction(self._sessions) as s:
            existing = await s.scalar(
                select(SubjectRestriction).where(
                    SubjectRestriction.tenant_id == tenant_id,
                    SubjectRestriction.lifted_at.is_(None),
                    SubjectRestriction.number.is_not_distinct_from(subject.number),
                    SubjectRestriction.email.is_not_distinct_from(subject.email),
                )
            )
            row = existing
            if row is None:
                row = SubjectRestriction(
                    id=uuid.uuid4(),
                    tenant_id=tenant_id,
                    number=subject.number,
                    email=subject.email,
                    restricted_at=at,
                    restricted_by=actor.label,
                    actor_user_id=actor.user_id,
                    reason=reason,
                )
                s.add(row)
                await s.flush()
            cases = (
                await s.execute(
                    update(Case)
                    .where(
                        Case.tenant_id == tenant_id,
                        Case.restricted_at.is_(None),
                        case_matches(subject),
                    )
                    .values(restricted_at=at)
                    .returning(Case.id)
                )
            ).all()
            await AuditLog.append_in(
                s,
                "subject.restrict",
                actor,
                tenant_id=tenant_id,
                target_type="subject_restriction",
                target_id=row.id,
                details={"cases": len(cases), "already": existing is not None},
            )
            return _view(row), len(cases)

    async def lift(
        self,
        tenant_id: uuid.UUID,
        actor: Actor,
        *,
        number: str | None = None,
        email: str | None = None,
        now: datetime | None = None,
    ) -> int:
        """Lift every active restriction matching the subject; returns how many. The
        subject's cases are re-opened (``restricted_at`` cleared) unless another restriction
        that stays active still covers them (the same person restricted by e-mail too)."""
        subject = Subject.of(number=number, email=email)
        at = now or datetime.now(UTC)
        async with transaction(self._sessions) as s:
            ids = [
                r[0]
                for r in (
                    await s.execute(
                        update(SubjectRestriction)
                        .where(
                            SubjectRestriction.tenant_id == tenant_id,
                            SubjectRestriction.lifted_at.is_(None),
                            _matches(subject),
                        )
                        .values(lifted_at=at, lifted_by=actor.label)
                        .returning(SubjectRestriction.id)
                    )
                ).all()
            ]
            if not ids:
                raise NotFound("active restriction for", subject.describe())
            reopen, kept = await _reopenable(s, tenant_id, subject)
            if reopen:
                await s.execute(update(Case).where(Case.id.in_(reopen)).values(restricted_at=None))
            await AuditLog.append_in(
                s,
                "subject.unrestrict",
                actor,
                tenant_id=tenant_id,
                target_type="subject_restriction",
                target_id=ids[0],
                details={
                    "restrictions": [str(i) for i in ids],
                    "cases": len(reopen),
                    "still_restricted": kept,
                },
            )
            return len(ids)

    async def for_subject(self, tenant_id: uuid.UUID, subject: Subject) -> list[RestrictionView]:
        stmt = (
            select(SubjectRestriction)
            .where(SubjectRestriction.tenant_id == tenant_id, _matches(subject))
            .order_by(SubjectRestriction.restricted_at)
        )
        async with transaction(self._sessions) as s:
            return [_view(r) for r in await s.scalars(stmt)]


async def _reopenable(
    s: AsyncSession, tenant_id: uuid.UUID, subject: Subject
) -> tuple[list[uuid.UUID], int]:
    """The subject's restricted cases that no still-active restriction covers (to clear), and
    how many stay restricted. Run after the lifted restrictions were marked lifted."""
    cases = (
        await s.execute(
            select(Case.id, Case.caller_number, Case.caller_email)
            .where(
                Case.tenant_id == tenant_id,
                Case.restricted_at.is_not(None),
                case_matches(subject),
            )
            .with_for_update()
        )
    ).all()
    parsed = [(case_id, _parse_lenient(number, email)) for case_id, number, email in cases]
    numbers = {p.number for _, p in parsed if p is not None and p.number is not None}
    emails = {p.email for _, p in parsed if p is not None and p.email is not None}
    active = (
        await s.execute(
            select(SubjectRestriction.number, SubjectRestriction.email).where(
                SubjectRestriction.tenant_id == tenant_id,
                SubjectRestriction.lifted_at.is_(None),
                or_(SubjectRestriction.number.in_(numbers), SubjectRestriction.email.in_(emails)),
            )
        )
    ).all()
    held_numbers = {n for n, _ in active if n is not None}
    held_emails = {e for _, e in active if e is not None}

    def covered(p: Subject | None) -> bool:
        return p is not None and (p.number in held_numbers or p.email in held_emails)

    reopen = [case_id for case_id, p in parsed if not covered(p)]
    return reopen, len(parsed) - len(reopen)


def _parse_lenient(number: str | None, email: str | None) -> Subject | None:
    n: str | None = None
    e: str | None = None
    if number:
        try:
            n = normalise_number(number)
        except BadContact:
            n = None
    if email:
        try:
            e = normalise_email(email)
        except BadContact:
            e = None
    if n is None and e is None:
        return None
    return Subject(number=n, email=e)
