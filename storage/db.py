"""Engine and session construction from settings (asyncpg under SQLAlchemy)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from ivr.config import Settings


def database_url(settings: Settings, *, owner: bool = False) -> URL:
    """URL for the application role, or the owner role (migrations) with ``owner=True``."""
    user, secret = (
        (settings.db_owner, "db_owner_password")
        if owner
        else (settings.db_app_user, "db_app_password")
    )
    return URL.create(
        "postgresql+asyncpg",
        username=user,
        password=settings.require(secret),
        host=settings.bind,
        port=settings.pg_port,
        database=settings.db_name,
    )


def make_engine(settings: Settings, *, owner: bool = False, pool_size: int = 10) -> AsyncEngine:
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
    settings: Settings, *, owner: bool = False
) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    """Sessions on a one-connection engine for a command-line run, disposed on exit."""
    engine = make_engine(settings, owner=owner, pool_size=1)
    try:
        yield session_factory(engine)
    finally:
        await engine.dispose()
