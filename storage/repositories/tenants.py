"""Tenants, their retention settings and their service numbers."""

from __future__ import annotations

import uuid
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from storage.domain import Actor, ServiceNumberInfo, TenantInfo
from storage.errors import NotFound
from storage.models import ServiceNumber, Tenant
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
    )


def number_info(n: ServiceNumber) -> ServiceNumberInfo:
    return ServiceNumberInfo(
        id=n.id,
        tenant_id=n.tenant_id,
        number=n.number,
        service=n.service,
        description=n.description,
    )


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
        recording_retention: timedelta | None = None,
        voicemail_retention: timedelta | None = None,
        case_retention: timedelta | None = None,
    ) -> TenantInfo:
        tenant = Tenant(id=uuid.uuid4(), slug=slug, name=name, language=language)
        for attr, value in (
            ("recording_retention", recording_retention),
            ("voicemail_retention", voicemail_retention),
            ("case_retention", case_retention),
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
        self, tenant_id: uuid.UUID, number: str, service: str, *, description: str = ""
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
            return number_info(row)

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
