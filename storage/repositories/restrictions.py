"""Restriction of processing: is this caller restricted, restrict them, lift it.

Call recording asks :meth:`RestrictionRepository.is_restricted` before recording a call; the
callback dialer asks it before dialling a request. Numbers are compared in canonical E.164
form (:mod:`storage.contacts`), so ``0401234567`` and ``+358401234567`` are the same person;
e-mail addresses case-insensitively. Restricting also stamps ``restricted_at`` on the
subject's existing cases; every change is audited in the same transaction.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import ColumnElement, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from storage.contacts import BadContact, Subject, normalise_email, normalise_number
from storage.domain import Actor
from storage.errors import NotFound
from storage.models import Case, SubjectRestriction
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
        async with transaction(self._sessions) as s:
            return (await s.scalar(stmt)) is not None

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
        """Lift every active restriction matching the subject; returns how many. Cases keep
        their ``restricted_at`` history only while restricted: it is cleared too."""
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
            cases = (
                await s.execute(
                    update(Case)
                    .where(
                        Case.tenant_id == tenant_id,
                        Case.restricted_at.is_not(None),
                        case_matches(subject),
                    )
                    .values(restricted_at=None)
                    .returning(Case.id)
                )
            ).all()
            await AuditLog.append_in(
                s,
                "subject.unrestrict",
                actor,
                tenant_id=tenant_id,
                target_type="subject_restriction",
                target_id=ids[0],
                details={"restrictions": [str(i) for i in ids], "cases": len(cases)},
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
