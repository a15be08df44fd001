"""Throw-away databases in the private cluster (benchmarks, tests): create, migrate, drop.

Uses the cluster's superuser only to CREATE/DROP DATABASE; the database is owned by the owner
role and the application role may connect, exactly like the real one.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TypeVar

from storage.db import connect, database_url
from storage.migrate import upgrade
from storage.settings import DatabaseSettings, ScratchSettings

S = TypeVar("S", bound=ScratchSettings)


def _ident(name: str) -> str:
    if not name.replace("_", "").isalnum():
        raise ValueError(f"invalid database identifier {name!r}")
    return f'"{name}"'


async def _admin(settings: DatabaseSettings, *statements: str) -> None:
    conn = await connect(settings, "super", database="postgres", connect_timeout=10)
    try:
        for sql in statements:
            await conn.execute(sql)
    finally:
        await conn.close()


async def create_database(settings: S, *, prefix: str = "linja_s", migrate: bool = True) -> S:
    """A new database (migrated to head unless told not to); settings pointing at it."""
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    await _admin(
        settings,
        f"CREATE DATABASE {_ident(name)} OWNER {_ident(settings.db_owner)}",
        f"GRANT CONNECT ON DATABASE {_ident(name)} TO {_ident(settings.db_app_user)}",
    )
    scratch = settings.model_copy(update={"db_name": name})
    if migrate:
        # Alembic's env runs its own event loop: keep it off ours.
        await asyncio.to_thread(upgrade, database_url(scratch, owner=True))
    return scratch


async def drop_database(settings: DatabaseSettings) -> None:
    await _admin(settings, f"DROP DATABASE IF EXISTS {_ident(settings.db_name)} WITH (FORCE)")


@asynccontextmanager
async def scratch_database(settings: S, *, prefix: str = "linja_s") -> AsyncIterator[S]:
    scratch = await create_database(settings, prefix=prefix)
    try:
        yield scratch
    finally:
        await drop_database(scratch)
