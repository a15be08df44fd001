"""``AuditLog.search`` (the console's audit page): each part of the filter narrows the
entries, newest first; ``%`` and ``_`` in a filter are taken literally."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from storage.domain import Actor, TenantInfo
from storage.repositories.audit import AuditLog, AuditQuery

pytestmark = pytest.mark.integration


async def test_audit_search_filters_by_tenant_action_actor_target_time_and_page(
    sessions: async_sessionmaker[AsyncSession], tenant: TenantInfo
) -> None:
    log = AuditLog(sessions)
    target = str(uuid.uuid4())
    mark = f"haku{uuid.uuid4().hex[:8]}"
    made = [
        await log.append("user.create", Actor(f"user:{mark}-a"), tenant_id=tenant.id),
        await log.append(
            "user.disable",
            Actor(f"user:{mark}-b"),
            tenant_id=tenant.id,
            target_type="user",
            target_id=target,
        ),
        await log.append("tenant.update", Actor(f"user:{mark}-a"), tenant_id=tenant.id),
        await log.append("user.create", Actor(f"user:{mark}-a"), tenant_id=None),
    ]
    ids = [e.id for e in made]

    async def found(**kw: object) -> list[int]:
        return [e.id for e in await log.search(AuditQuery(**kw))]  # type: ignore[arg-type]

    mine = await found(tenant_id=tenant.id)
    assert mine[:3] == [ids[2], ids[1], ids[0]]  # newest first, the tenantless one not
    assert await found(tenant_id=tenant.id, action="user.") == [ids[1], ids[0]]
    assert await found(tenant_id=tenant.id, actor=f"{mark}-b") == [ids[1]]
    assert await found(target=target) == [ids[1]]
    assert await found(actor=mark, action="user.create") == [ids[3], ids[0]]
    assert await found(actor=mark, before=ids[3], limit=1) == [ids[2]]
    assert await found(actor="%", action="user.") == []  # literal, not a wildcard
    now = datetime.now(UTC)
    assert await found(actor=mark, since=now + timedelta(minutes=1)) == []
    assert await found(actor=mark, until=now - timedelta(hours=1)) == []
