"""Storage fixtures on the real private Postgres cluster (`linja stack up`).

One migrated database is shared by the tests of a module (each test makes its own tenant);
tests that need a pristine database (migrations, audit tampering, outage) make their own.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from ivr.config import Settings
from storage.db import make_engine, session_factory
from storage.domain import Actor, TenantInfo, UserInfo
from storage.events import Role
from storage.passwords import Hasher
from storage.repositories.tenants import TenantRepository
from storage.repositories.users import UserRepository
from storage.scratch import create_database, drop_database

ADMIN = Actor.system("tests")


@pytest.fixture(scope="module")
def storage_db(settings: Settings) -> Iterator[Settings]:
    scratch = asyncio.run(create_database(settings, prefix="linja_ts"))
    try:
        yield scratch
    finally:
        asyncio.run(drop_database(scratch))


@pytest.fixture
async def engine(storage_db: Settings) -> AsyncIterator[AsyncEngine]:
    """The application role's engine (what the controller uses)."""
    eng = make_engine(storage_db, pool_size=4)
    try:
        yield eng
    finally:
        await eng.dispose()


@pytest.fixture
def sessions(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return session_factory(engine)


@pytest.fixture
async def tenant(sessions: async_sessionmaker[AsyncSession]) -> TenantInfo:
    slug = f"t-{uuid.uuid4().hex[:10]}"
    return await TenantRepository(sessions).create(slug, "Testi Oy", ADMIN)


@pytest.fixture
async def agent(sessions: async_sessionmaker[AsyncSession], tenant: TenantInfo) -> UserInfo:
    return await UserRepository(sessions, Hasher.fast_for_tests()).create(
        tenant_id=tenant.id,
        name="Agentti",
        login=f"agent-{uuid.uuid4().hex[:8]}",
        password="salasana",
        role=Role.TEAM,
        actor=ADMIN,
    )
