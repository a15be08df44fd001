"""The database itself refuses bad data and forbidden changes, with a clear error.

Raw SQL as the application role bypasses every Python check; the repository tests show the
same refusals arrive as :mod:`storage.errors` types naming the constraint.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import timedelta

import asyncpg
import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from ivr.config import Settings
from storage.db import connect
from storage.domain import Actor, TenantInfo, UserInfo
from storage.errors import ConstraintViolation, Forbidden
from storage.events import ListenKind
from storage.passwords import Hasher
from storage.repositories.audit import AuditLog
from storage.repositories.media import ListeningLog
from storage.repositories.tenants import TenantRepository
from storage.repositories.users import UserRepository
from tests.integration.storage.conftest import ADMIN

pytestmark = pytest.mark.integration

ARGON = "$argon2id$v=19$m=1024,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA"


@pytest.fixture
async def app(storage_db: Settings) -> AsyncIterator[asyncpg.Connection]:
    conn = await connect(storage_db, "app")
    try:
        yield conn
    finally:
        await conn.close()


@pytest.mark.parametrize(
    ("column", "value", "ok"),
    [
        ("recording_retention", "1 day", True),
        ("recording_retention", "36 months", True),
        ("recording_retention", "23 hours", False),
        ("recording_retention", "36 months 1 day", False),
        ("voicemail_retention", "0", False),
        ("voicemail_retention", "37 months", False),
        ("voicemail_retention", "2 months", True),
        ("case_retention", "-1 day", False),
    ],
)
async def test_retention_limits(
    app: asyncpg.Connection, tenant: TenantInfo, column: str, value: str, ok: bool
) -> None:
    sql = f"UPDATE tenants SET {column} = $1::text::interval WHERE id = $2"
    if ok:
        await app.execute(sql, value, tenant.id)
        return
    with pytest.raises(asyncpg.CheckViolationError) as err:
        await app.execute(sql, value, tenant.id)
    assert err.value.constraint_name == f"ck_tenants_{column}_range"
    assert f"ck_tenants_{column}_range" in str(err.value)


async def test_retention_through_the_repository_names_the_constraint(
    sessions: async_sessionmaker[AsyncSession], tenant: TenantInfo
) -> None:
    repo = TenantRepository(sessions)
    with pytest.raises(ConstraintViolation) as err:
        await repo.set_retention(tenant.id, ADMIN, recordings=timedelta(days=37 * 31))
    assert err.value.constraint == "ck_tenants_recording_retention_range"
    updated = await repo.set_retention(tenant.id, ADMIN, voice_messages=timedelta(days=1))
    assert updated.voicemail_retention == timedelta(days=1)
    assert (await repo.get(tenant.id)).recording_retention != timedelta(days=37 * 31)


async def test_unknown_role_is_refused(
    app: asyncpg.Connection, sessions: async_sessionmaker[AsyncSession], tenant: TenantInfo
) -> None:
    with pytest.raises(asyncpg.CheckViolationError) as err:
        await app.execute(
            "INSERT INTO users (id, tenant_id, name, login, password_hash, role) "
            "VALUES ($1, $2, 'X', $3, $4, 'superuser')",
            uuid.uuid4(), tenant.id, f"x{uuid.uuid4().hex[:6]}", ARGON,
        )  # fmt: skip
    assert err.value.constraint_name == "ck_users_role_known"
    with pytest.raises(ConstraintViolation) as err2:
        await UserRepository(sessions, Hasher.fast_for_tests()).create(
            tenant_id=tenant.id, name="Y", login=f"y{uuid.uuid4().hex[:6]}", password="pw",
            role="boss", actor=ADMIN,
        )  # fmt: skip
    assert err2.value.constraint == "ck_users_role_known"


@pytest.mark.parametrize(
    ("column", "value", "constraint"),
    [
        ("password_hash", "plaintext", "ck_users_password_argon2"),
        ("phone_number", "call me", "ck_users_phone_format"),
        ("login", "Has Space", "ck_users_login_format"),
    ],
)
async def test_user_fields(
    app: asyncpg.Connection, tenant: TenantInfo, column: str, value: str, constraint: str
) -> None:
    row = {"password_hash": ARGON, "phone_number": None, "login": f"u{uuid.uuid4().hex[:6]}"}
    row[column] = value
    with pytest.raises(asyncpg.CheckViolationError) as err:
        await app.execute(
            "INSERT INTO users (id, tenant_id, name, login, password_hash, role, phone_number) "
            "VALUES ($1, $2, 'Z', $3, $4, 'team', $5)",
            uuid.uuid4(), tenant.id, row["login"], row["password_hash"], row["phone_number"],
        )  # fmt: skip
    assert err.value.constraint_name == constraint


@pytest.mark.parametrize(
    ("column", "value", "constraint"),
    [("channel", "fax", "ck_cases_channel_known"), ("outcome", "lost", "ck_cases_outcome_known")],
)
async def test_case_vocabularies(
    app: asyncpg.Connection, tenant: TenantInfo, column: str, value: str, constraint: str
) -> None:
    values = {"channel": "phone", "outcome": "answered"}
    values[column] = value
    with pytest.raises(asyncpg.CheckViolationError) as err:
        await app.execute(
            "INSERT INTO cases (id, tenant_id, channel, started_at, ended_at, outcome) "
            "VALUES ($1, $2, $3, now(), now(), $4)",
            uuid.uuid4(), tenant.id, values["channel"], values["outcome"],
        )  # fmt: skip
    assert err.value.constraint_name == constraint


async def test_users_and_cases_are_never_deleted_by_the_application(
    app: asyncpg.Connection, agent: UserInfo
) -> None:
    with pytest.raises(asyncpg.InsufficientPrivilegeError):
        await app.execute("DELETE FROM users WHERE id = $1", agent.id)
    with pytest.raises(asyncpg.InsufficientPrivilegeError):
        await app.execute("DELETE FROM cases")


async def _listening_event(
    sessions: async_sessionmaker[AsyncSession], app: asyncpg.Connection, tenant: TenantInfo,
    agent: UserInfo,
) -> uuid.UUID:  # fmt: skip
    case_id = uuid.uuid4()
    await app.execute(
        "INSERT INTO cases (id, tenant_id, channel, started_at) VALUES ($1, $2, 'phone', now())",
        case_id, tenant.id,
    )  # fmt: skip
    event = await ListeningLog(sessions).record(
        user_id=agent.id, case_id=case_id, kind=ListenKind.PLAY, link="/console/cases/x/audio"
    )
    return event.id


@pytest.mark.parametrize("table", ["listening_events", "audit_log"])
async def test_append_only_tables_refuse_update_and_delete(
    storage_db: Settings,
    sessions: async_sessionmaker[AsyncSession],
    app: asyncpg.Connection,
    tenant: TenantInfo,
    agent: UserInfo,
    table: str,
) -> None:
    if table == "listening_events":
        await _listening_event(sessions, app, tenant, agent)
    else:
        await AuditLog(sessions).append("test.row", ADMIN, tenant_id=tenant.id)
    column = "link" if table == "listening_events" else "action"

    # The application role has no UPDATE/DELETE privilege at all...
    with pytest.raises(asyncpg.InsufficientPrivilegeError, match="permission denied"):
        await app.execute(f"UPDATE {table} SET {column} = 'x'")
    with pytest.raises(asyncpg.InsufficientPrivilegeError, match="permission denied"):
        await app.execute(f"DELETE FROM {table}")

    # ...and even the owner is stopped by the trigger.
    owner = await connect(storage_db, "owner")
    try:
        for sql in (
            f"UPDATE {table} SET {column} = 'x'",
            f"DELETE FROM {table}",
            f"TRUNCATE {table}",
        ):
            with pytest.raises(asyncpg.InsufficientPrivilegeError, match="append-only"):
                await owner.execute(sql)
    finally:
        await owner.close()
    assert await app.fetchval(f"SELECT count(*) FROM {table}") >= 1


async def test_refusals_come_out_as_domain_errors(
    sessions: async_sessionmaker[AsyncSession], tenant: TenantInfo
) -> None:
    from sqlalchemy import text

    from storage.repositories._uow import transaction

    with pytest.raises(Forbidden, match="permission denied"):
        async with transaction(sessions) as s:
            await s.execute(text("DELETE FROM listening_events"))
    with pytest.raises(ConstraintViolation) as err:
        async with transaction(sessions) as s:
            await s.execute(
                text("UPDATE tenants SET case_retention = interval '0' WHERE id = :t"),
                {"t": tenant.id},
            )
    assert err.value.constraint == "ck_tenants_case_retention_range"
    assert err.value.sqlstate == "23514"
    assert isinstance(Actor.system(), Actor)
