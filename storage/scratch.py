"""Throw-away databases in the private cluster (benchmarks, tests): create, migrate, drop.

Uses the cluster's superuser only to CREATE/DROP DATABASE; the database is owned by the owner
role and the application role may connect, exactly like the real one.

A migrated database is a copy of a template database that was migrated once per cluster and
set of migrations (``linja_tpl_<digest of the migration files>``): copying it takes a tenth of
the time of running every migration, and the test suite makes about a hundred. The template is
built under another name and renamed when complete, so a half-built one is never copied;
templates of older migrations are dropped when a new one is built.
"""

from __future__ import annotations

import asyncio
import hashlib
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TypeVar

from storage.db import connect, database_url
from storage.migrate import MIGRATIONS, upgrade
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
    template = f" TEMPLATE {_ident(await _template(settings))}" if migrate else ""
    await _admin(
        settings,
        f"CREATE DATABASE {_ident(name)} OWNER {_ident(settings.db_owner)}{template}",
        f"GRANT CONNECT ON DATABASE {_ident(name)} TO {_ident(settings.db_app_user)}",
    )
    return settings.model_copy(update={"db_name": name})


def _migrations_digest() -> str:
    digest = hashlib.sha256()
    for path in sorted((MIGRATIONS / "versions").glob("*.py")):
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    digest.update((MIGRATIONS / "env.py").read_bytes())
    return digest.hexdigest()[:12]


async def _template(settings: ScratchSettings) -> str:
    """The name of the migrated template database, built first if this cluster has none."""
    name = f"linja_tpl_{_migrations_digest()}"
    conn = await connect(settings, "super", database="postgres", connect_timeout=10)
    try:
        await conn.execute("SELECT pg_advisory_lock(hashtext('linja scratch template'))")
        if await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name):
            return name
        building = f"{name}_building"
        await conn.execute(f"DROP DATABASE IF EXISTS {_ident(building)} WITH (FORCE)")
        await conn.execute(f"CREATE DATABASE {_ident(building)} OWNER {_ident(settings.db_owner)}")
        scratch = settings.model_copy(update={"db_name": building})
        # Alembic's env runs its own event loop: keep it off ours.
        await asyncio.to_thread(upgrade, database_url(scratch, owner=True))
        # A copy needs its template without sessions: end any the migration left behind.
        await conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1",
            building,
        )
        for _ in range(100):  # a terminated backend takes a moment to go
            if not await conn.fetchval(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = $1", building
            ):
                break
            await asyncio.sleep(0.05)
        await conn.execute(f"ALTER DATABASE {_ident(building)} RENAME TO {_ident(name)}")
        for (old,) in await conn.fetch(
            "SELECT datname FROM pg_database WHERE datname LIKE 'linja\\_tpl\\_%' "
            "AND datname <> $1",
            name,
        ):
            await conn.execute(f"DROP DATABASE IF EXISTS {_ident(old)} WITH (FORCE)")
        return name
    finally:
        await conn.close()  # the advisory lock ends with the session


async def drop_database(settings: DatabaseSettings) -> None:
    await _admin(settings, f"DROP DATABASE IF EXISTS {_ident(settings.db_name)} WITH (FORCE)")


@asynccontextmanager
async def scratch_database(settings: S, *, prefix: str = "linja_s") -> AsyncIterator[S]:
    scratch = await create_database(settings, prefix=prefix)
    try:
        yield scratch
    finally:
        await drop_database(scratch)
