"""Bulletins, their service numbers and tenants, and the anonymous call counters.

Returns plain dataclasses; the controller never sees ORM objects. Each method is one short
unit of work.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, func, or_, select, text, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import undefer

from storage.models import (
    Bulletin,
    BulletinCallCounter,
    BulletinCounterBatch,
    ServiceNumber,
    Tenant,
)

NOTIFY_CHANNEL = "linja_bulletins"
# How long the ids of stored counter batches are kept: a journal segment replayed later than
# this after it was stored would be counted twice (it takes a crash within a millisecond of
# the store, and no restart for two days).
BATCHES_KEPT = timedelta(days=2)


class UnknownNumber(LookupError):
    def __init__(self, number: str) -> None:
        super().__init__(f"unknown service number {number!r}")
        self.number = number


@dataclass(frozen=True)
class BulletinView:
    id: uuid.UUID
    number: str
    tenant: str
    language: str
    text: str | None
    audio_sha256: str | None
    starts_at: datetime
    ends_at: datetime | None
    cleared_at: datetime | None

    def active_at(self, now: datetime) -> bool:
        return (
            self.cleared_at is None
            and self.starts_at <= now
            and (self.ends_at is None or now < self.ends_at)
        )


@dataclass(frozen=True)
class BulletinNumber:
    """A service number of the bulletin service with its tenant's language."""

    id: uuid.UUID
    number: str
    tenant: str
    language: str


# (service number id, bulletin id or None, hour) -> calls
CounterKey = tuple[uuid.UUID, uuid.UUID | None, datetime]


def _view(b: Bulletin, number: str, tenant: str) -> BulletinView:
    return BulletinView(
        id=b.id,
        number=number,
        tenant=tenant,
        language=b.language,
        text=b.text,
        audio_sha256=b.audio_sha256,
        starts_at=b.starts_at,
        ends_at=b.ends_at,
        cleared_at=b.cleared_at,
    )


class BulletinRepository:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def numbers(self) -> list[BulletinNumber]:
        async with self._sessions() as s:
            rows = await s.execute(
                select(ServiceNumber.id, ServiceNumber.number, Tenant.slug, Tenant.language)
                .join(Tenant, Tenant.id == ServiceNumber.tenant_id)
                .where(ServiceNumber.service == "bulletin")
                .order_by(ServiceNumber.number)
            )
            return [BulletinNumber(r[0], r[1], r[2], r[3]) for r in rows]

    async def active(self, now: datetime) -> list[BulletinView]:
        """Bulletins in force at ``now``, in play order (start time, then creation)."""
        return await self._select(now=now, active_only=True)

    async def listing(
        self, number: str | None = None, *, include_ended: bool = False, now: datetime
    ) -> list[BulletinView]:
        return await self._select(
            now=now, active_only=False, number=number, include_ended=include_ended
        )

    async def _select(
        self,
        *,
        now: datetime,
        active_only: bool,
        number: str | None = None,
        include_ended: bool = False,
    ) -> list[BulletinView]:
        stmt = (
            select(Bulletin, ServiceNumber.number, Tenant.slug)
            .join(ServiceNumber, ServiceNumber.id == Bulletin.service_number_id)
            .join(Tenant, Tenant.id == Bulletin.tenant_id)
            .order_by(ServiceNumber.number, Bulletin.starts_at, Bulletin.created_at)
        )
        if number is not None:
            stmt = stmt.where(ServiceNumber.number == number)
        if active_only:
            stmt = stmt.where(Bulletin.starts_at <= now)
        if active_only or not include_ended:
            stmt = stmt.where(
                Bulletin.cleared_at.is_(None),
                or_(Bulletin.ends_at.is_(None), Bulletin.ends_at > now),
            )
        async with self._sessions() as s:
            rows = await s.execute(stmt)
            return [_view(b, num, slug) for b, num, slug in rows]

    async def audio(self, bulletin_id: uuid.UUID) -> bytes | None:
        async with self._sessions() as s:
            row = await s.execute(
                select(Bulletin).options(undefer(Bulletin.audio)).where(Bulletin.id == bulletin_id)
            )
            b = row.scalar_one_or_none()
            return None if b is None else b.audio

    async def next_change(self, now: datetime) -> datetime | None:
        """The next moment the active set changes by itself (a start or an end)."""
        async with self._sessions() as s:
            starts = select(func.min(Bulletin.starts_at)).where(
                Bulletin.cleared_at.is_(None), Bulletin.starts_at > now
            )
            ends = select(func.min(Bulletin.ends_at)).where(
                Bulletin.cleared_at.is_(None), Bulletin.ends_at > now
            )
            a = (await s.execute(starts)).scalar_one_or_none()
            b = (await s.execute(ends)).scalar_one_or_none()
        candidates = [t for t in (a, b) if t is not None]
        return min(candidates) if candidates else None

    async def add(
        self,
        *,
        number: str,
        language: str,
        text_: str | None,
        audio: bytes | None,
        starts_at: datetime,
        ends_at: datetime | None,
    ) -> BulletinView:
        async with self._sessions.begin() as s:
            row = (
                await s.execute(
                    select(ServiceNumber, Tenant.slug)
                    .join(Tenant, Tenant.id == ServiceNumber.tenant_id)
                    .where(ServiceNumber.number == number, ServiceNumber.service == "bulletin")
                )
            ).first()
            if row is None:
                raise UnknownNumber(number)
            sn, slug = row
            b = Bulletin(
                id=uuid.uuid4(),
                tenant_id=sn.tenant_id,
                service_number_id=sn.id,
                language=language,
                text=text_,
                audio=audio,
                audio_sha256=hashlib.sha256(audio).hexdigest() if audio is not None else None,
                starts_at=starts_at,
                ends_at=ends_at,
            )
            s.add(b)
            await s.flush()
            await s.execute(text("SELECT pg_notify(:c, :n)"), {"c": NOTIFY_CHANNEL, "n": number})
            return _view(b, number, slug)

    async def clear(
        self, *, number: str, now: datetime, bulletin_id: uuid.UUID | None = None
    ) -> int:
        """End the number's current and future bulletins (or one of them). Kept as history."""
        async with self._sessions.begin() as s:
            sn_id = (
                await s.execute(select(ServiceNumber.id).where(ServiceNumber.number == number))
            ).scalar_one_or_none()
            if sn_id is None:
                raise UnknownNumber(number)
            stmt = (
                update(Bulletin)
                .where(
                    Bulletin.service_number_id == sn_id,
                    Bulletin.cleared_at.is_(None),
                    or_(Bulletin.ends_at.is_(None), Bulletin.ends_at > now),
                )
                .values(cleared_at=now)
            )
            if bulletin_id is not None:
                stmt = stmt.where(Bulletin.id == bulletin_id)
            result = await s.execute(stmt)
            count = getattr(result, "rowcount", 0)
            await s.execute(text("SELECT pg_notify(:c, :n)"), {"c": NOTIFY_CHANNEL, "n": number})
            return int(count)


class CounterRepository:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def add(self, counts: Mapping[CounterKey, int], batch: uuid.UUID) -> bool:
        """Add ``counts`` unless ``batch`` was added before (one transaction); whether they
        were added now."""
        async with self._sessions.begin() as s:
            fresh = await s.scalar(
                insert(BulletinCounterBatch)
                .values(id=batch)
                .on_conflict_do_nothing()
                .returning(BulletinCounterBatch.id)
            )
            if fresh is None or not counts:
                return fresh is not None
            rows = [
                {"service_number_id": n, "bulletin_id": b, "hour": h, "calls": c}
                for (n, b, h), c in counts.items()
            ]
            stmt = insert(BulletinCallCounter).values(rows)
            stmt = stmt.on_conflict_do_update(
                constraint="uq_bulletin_call_counters_service_number_id_bulletin_id_hour",
                set_={"calls": BulletinCallCounter.calls + stmt.excluded.calls},
            )
            await s.execute(stmt)
            return True

    async def prune_batches(self) -> int:
        """Forget the batch ids older than :data:`BATCHES_KEPT`; how many went."""
        async with self._sessions.begin() as s:
            result = await s.execute(
                delete(BulletinCounterBatch).where(
                    BulletinCounterBatch.applied_at < func.now() - BATCHES_KEPT
                )
            )
            return int(getattr(result, "rowcount", 0))

    async def totals(self, number: str) -> dict[uuid.UUID | None, int]:
        """Calls per bulletin (None: no bulletin was active) for a number, all hours."""
        async with self._sessions() as s:
            rows = await s.execute(
                select(BulletinCallCounter.bulletin_id, func.sum(BulletinCallCounter.calls))
                .join(ServiceNumber, ServiceNumber.id == BulletinCallCounter.service_number_id)
                .where(ServiceNumber.number == number)
                .group_by(BulletinCallCounter.bulletin_id)
            )
            return {r[0]: int(r[1]) for r in rows}

    async def hourly(
        self, number: str, since: datetime
    ) -> list[tuple[uuid.UUID | None, datetime, int]]:
        """Calls per (bulletin, hour) for a number from ``since``, oldest hour first."""
        async with self._sessions() as s:
            rows = await s.execute(
                select(
                    BulletinCallCounter.bulletin_id,
                    BulletinCallCounter.hour,
                    func.sum(BulletinCallCounter.calls),
                )
                .join(ServiceNumber, ServiceNumber.id == BulletinCallCounter.service_number_id)
                .where(ServiceNumber.number == number, BulletinCallCounter.hour >= since)
                .group_by(BulletinCallCounter.bulletin_id, BulletinCallCounter.hour)
                .order_by(BulletinCallCounter.hour)
            )
            return [(r[0], r[1], int(r[2])) for r in rows]
