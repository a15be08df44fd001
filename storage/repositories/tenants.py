"""Tenants, their retention settings and their service numbers."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import timedelta
from typing import TypeVar

from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from storage.domain import Actor, Page, ServiceNumberInfo, TenantInfo
from storage.errors import NotFound, NumberInUse
from storage.models import Bulletin, BulletinCallCounter, ServiceNumber, Tenant
from storage.repositories._uow import transaction
from storage.repositories.audit import AuditLog


def tenant_info(t: Tenant) -> TenantInfo:
    return TenantInfo(
        id=t.id,
        slug=t.slug,
        name=t.name,
        language=t.language,
        recording_retention=t.recording_retention,
        voicemail_retention=t.voicemail_retention,
        case_retention=t.case_retention,
        time_zone=t.time_zone,
        transcripts_enabled=t.transcripts_enabled,
        transcript_retention=t.transcript_retention,
    )


def number_info(n: ServiceNumber) -> ServiceNumberInfo:
    return ServiceNumberInfo(
        id=n.id,
        tenant_id=n.tenant_id,
        number=n.number,
        service=n.service,
        description=n.description,
    )


EDITABLE = (
    "name",
    "language",
    "time_zone",
    "recording_retention",
    "voicemail_retention",
    "case_retention",
    "transcripts_enabled",
    "transcript_retention",
)
K = TypeVar("K")


def _page(rows: list[K], limit: int, key: Callable[[K], str]) -> Page[K]:
    """``rows`` fetched with ``limit + 1``: the page and the key to continue after."""
    if len(rows) > limit:
        return Page(rows[:limit], key(rows[limit - 1]))
    return Page(rows, None)


class TenantRepository:
    """Tenants and numbers. Retention limits (1 day .. 36 months) are CHECK constraints:
    a value outside them raises :class:`storage.errors.ConstraintViolation`."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def create(
        self,
        slug: str,
        name: str,
        actor: Actor,
        *,
        language: str = "fi",
        time_zone: str | None = None,
        recording_retention: timedelta | None = None,
        voicemail_retention: timedelta | None = None,
        case_retention: timedelta | None = None,
        transcripts_enabled: bool | None = None,
        transcript_retention: timedelta | None = None,
    ) -> TenantInfo:
        tenant = Tenant(id=uuid.uuid4(), slug=slug, name=name, language=language)
        for attr, value in (
            ("time_zone", time_zone),
            ("recording_retention", recording_retention),
            ("voicemail_retention", voicemail_retention),
            ("case_retention", case_retention),
            ("transcripts_enabled", transcripts_enabled),
            ("transcript_retention", transcript_retention),
        ):
            if value is not None:
                setattr(tenant, attr, value)
        async with transaction(self._sessions) as s:
            s.add(tenant)
            await s.flush()
            await s.refresh(tenant)
            await AuditLog.append_in(
                s,
                "tenant.create",
                actor,
                tenant_id=tenant.id,
                target_type="tenant",
                target_id=tenant.id,
                details={"slug": slug},
            )
            return tenant_info(tenant)

    async def get(self, tenant_id: uuid.UUID) -> TenantInfo:
        async with transaction(self._sessions) as s:
            tenant = await s.get(Tenant, tenant_id)
            if tenant is None:
                raise NotFound("tenant", tenant_id)
            return tenant_info(tenant)

    async def by_slug(self, slug: str) -> TenantInfo:
        async with transaction(self._sessions) as s:
            tenant = await s.scalar(select(Tenant).where(Tenant.slug == slug))
            if tenant is None:
                raise NotFound("tenant", slug)
            return tenant_info(tenant)

    async def page(self, *, after: str | None = None, limit: int = 50) -> Page[TenantInfo]:
        """Tenants by slug, ``limit`` of them after the slug ``after``."""
        stmt = select(Tenant).order_by(Tenant.slug).limit(limit + 1)
        if after is not None:
            stmt = stmt.where(Tenant.slug > after)
        async with transaction(self._sessions) as s:
            rows = [tenant_info(t) for t in await s.scalars(stmt)]
        return _page(rows, limit, lambda t: t.slug)

    async def update(
        self, tenant_id: uuid.UUID, actor: Actor, changes: dict[str, object]
    ) -> TenantInfo:
        """Set the settings in ``changes`` (column name -> value; never the slug), audited
        with the values before and after."""
        unknown = set(changes) - set(EDITABLE)
        if unknown:
            raise ValueError(f"not editable: {', '.join(sorted(unknown))}")
        async with transaction(self._sessions) as s:
            tenant = await s.get(Tenant, tenant_id, with_for_update=True)
            if tenant is None:
                raise NotFound("tenant", tenant_id)
            before = {k: str(getattr(tenant, k)) for k in sorted(changes)}
            for k, v in changes.items():
                setattr(tenant, k, v)
            await s.flush()
            await AuditLog.append_in(
                s,
                "tenant.update",
                actor,
                tenant_id=tenant_id,
                target_type="tenant",
                target_id=tenant_id,
                details={"before": before, "after": {k: str(v) for k, v in changes.items()}},
            )
            return tenant_info(tenant)

    async def all(self) -> list[TenantInfo]:
        async with transaction(self._sessions) as s:
            return [tenant_info(t) for t in await s.scalars(select(Tenant).order_by(Tenant.slug))]

    async def set_retention(
        self,
        tenant_id: uuid.UUID,
        actor: Actor,
        *,
        recordings: timedelta | None = None,
        voice_messages: timedelta | None = None,
        cases: timedelta | None = None,
    ) -> TenantInfo:
        changes = {
            k: v
            for k, v in (
                ("recording_retention", recordings),
                ("voicemail_retention", voice_messages),
                ("case_retention", cases),
            )
            if v is not None
        }
        async with transaction(self._sessions) as s:
            tenant = await s.get(Tenant, tenant_id, with_for_update=True)
            if tenant is None:
                raise NotFound("tenant", tenant_id)
            before = {k: str(getattr(tenant, k)) for k in changes}
            for k, v in changes.items():
                setattr(tenant, k, v)
            await s.flush()
            await AuditLog.append_in(
                s,
                "tenant.retention",
                actor,
                tenant_id=tenant_id,
                target_type="tenant",
                target_id=tenant_id,
                details={"before": before, "after": {k: str(v) for k, v in changes.items()}},
            )
            return tenant_info(tenant)

    async def add_number(
        self,
        tenant_id: uuid.UUID,
        number: str,
        service: str,
        actor: Actor,
        *,
        description: str = "",
    ) -> ServiceNumberInfo:
        row = ServiceNumber(
            id=uuid.uuid4(),
            tenant_id=tenant_id,
            number=number,
            service=service,
            description=description,
        )
        async with transaction(self._sessions) as s:
            s.add(row)
            await s.flush()
            await AuditLog.append_in(
                s,
                "number.add",
                actor,
                tenant_id=tenant_id,
                target_type="service_number",
                target_id=row.id,
                details={"number": number, "service": service},
            )
            return number_info(row)

    async def number_page(
        self, *, tenant_id: uuid.UUID | None = None, after: str | None = None, limit: int = 50
    ) -> Page[ServiceNumberInfo]:
        """Service numbers by number (one tenant's, or all), ``limit`` after ``after``."""
        stmt = select(ServiceNumber).order_by(ServiceNumber.number).limit(limit + 1)
        if tenant_id is not None:
            stmt = stmt.where(ServiceNumber.tenant_id == tenant_id)
        if after is not None:
            stmt = stmt.where(ServiceNumber.number > after)
        async with transaction(self._sessions) as s:
            rows = [number_info(n) for n in await s.scalars(stmt)]
        return _page(rows, limit, lambda n: n.number)

    async def remove_number(self, number: str, actor: Actor) -> ServiceNumberInfo:
        """Delete a service number that has no history (no bulletin, no call counter):
        :class:`NumberInUse` otherwise, and nothing changes. Cases keep the number dialled
        as text, so they are no history here."""
        async with transaction(self._sessions) as s:
            # No row lock (the app role may not update the table); a bulletin added meanwhile
            # makes the DELETE fail on its foreign key instead.
            row = await s.scalar(select(ServiceNumber).where(ServiceNumber.number == number))
            if row is None:
                raise NotFound("service number", number)
            bulletins = await s.scalar(
                select(func.count()).where(Bulletin.service_number_id == row.id)
            )
            counters = await s.scalar(
                select(func.count()).where(BulletinCallCounter.service_number_id == row.id)
            )
            if bulletins or counters:
                raise NumberInUse(number, int(bulletins or 0), int(counters or 0))
            info = number_info(row)
            await s.delete(row)
            await s.flush()
            await AuditLog.append_in(
                s,
                "number.remove",
                actor,
                tenant_id=info.tenant_id,
                target_type="service_number",
                target_id=info.id,
                details={"number": number, "service": info.service},
            )
            return info

    async def numbers(self, tenant_id: uuid.UUID) -> list[ServiceNumberInfo]:
        async with transaction(self._sessions) as s:
            rows = await s.scalars(
                select(ServiceNumber)
                .where(ServiceNumber.tenant_id == tenant_id)
                .order_by(ServiceNumber.number)
            )
            return [number_info(n) for n in rows]

    async def by_number(self, number: str) -> ServiceNumberInfo:
        async with transaction(self._sessions) as s:
            row = await s.scalar(select(ServiceNumber).where(ServiceNumber.number == number))
            if row is None:
                raise NotFound("service number", number)
            return number_info(row)

    async def ensure(self, slug: str, name: str, language: str) -> uuid.UUID:
        async with self._sessions.begin() as s:
            stmt = (
                insert(Tenant)
                .values(id=uuid.uuid4(), slug=slug, name=name, language=language)
                .on_conflict_do_update(index_elements=["slug"], set_={"name": name})
                .returning(Tenant.id)
            )
            return (await s.execute(stmt)).scalar_one()

    async def ensure_number(self, tenant_id: uuid.UUID, number: str, service: str) -> uuid.UUID:
        async with self._sessions.begin() as s:
            stmt = (
                insert(ServiceNumber)
                .values(id=uuid.uuid4(), tenant_id=tenant_id, number=number, service=service)
                .on_conflict_do_update(index_elements=["number"], set_={"service": service})
                .returning(ServiceNumber.id)
            )
            return (await s.execute(stmt)).scalar_one()
