"""Engine and session construction from settings (asyncpg under SQLAlchemy), and plain asyncpg
connections for the few places that need one (LISTEN, bulk seeding, set-up, tests)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Literal

import asyncpg
from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from storage.settings import DatabaseSettings

Role = Literal["app", "owner", "super"]


def _login(settings: DatabaseSettings, who: Role) -> tuple[str, str]:
    user, secret = {
        "app": (settings.db_app_user, "db_app_password"),
        "owner": (settings.db_owner, "db_owner_password"),
        "super": (settings.db_superuser, "db_superuser_password"),
    }[who]
    return user, settings.require(secret)


async def connect(
    settings: DatabaseSettings,
    who: Role = "app",
    *,
    database: str | None = None,
    connect_timeout: float = 60.0,
) -> asyncpg.Connection:
    """A plain connection as the application role, the owner or the superuser, to the
    service's database unless ``database`` is given."""
    user, password = _login(settings, who)
    conn: asyncpg.Connection = await asyncpg.connect(
        host=settings.db_host,
        port=settings.pg_port,
        user=user,
        password=password,
        database=database or settings.db_name,
        timeout=connect_timeout,
    )
    return conn


def database_url(settings: DatabaseSettings, *, owner: bool = False) -> URL:
    """URL for the application role, or the owner role (migrations) with ``owner=True``."""
    user, password = _login(settings, "owner" if owner else "app")
    return URL.create(
        "postgresql+asyncpg",
        username=user,
        password=password,
        host=settings.db_host,
        port=settings.pg_port,
        database=settings.db_name,
    )


def make_engine(
    settings: DatabaseSettings, *, owner: bool = False, pool_size: int = 10
) -> AsyncEngine:
    return create_async_engine(
        database_url(settings, owner=owner),
        pool_size=pool_size,
        max_overflow=pool_size,
        pool_pre_ping=True,
        pool_timeout=5,
        connect_args={"timeout": 5, "command_timeout": 30},
    )


def session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)


@asynccontextmanager
async def short_lived_sessions(
    settings: DatabaseSettings, *, owner: bool = False
) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    """Sessions on a one-connection engine for a command-line run, disposed on exit."""
    engine = make_engine(settings, owner=owner, pool_size=1)
    try:
        yield session_factory(engine)
    finally:
        await engine.dispose()
