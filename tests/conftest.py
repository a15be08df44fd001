"""Shared fixtures. Integration fixtures need the stack (`linja stack up`, done by `make test`)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator

import asyncpg
import pytest

from ivr.config import Settings
from storage.db import database_url
from storage.migrate import upgrade


@pytest.fixture(scope="session")
def settings() -> Settings:
    return Settings()


async def _admin(settings: Settings, sql: str) -> None:
    conn = await asyncpg.connect(
        host=settings.bind,
        port=settings.pg_port,
        user=settings.db_superuser,
        password=settings.require("db_superuser_password"),
        database="postgres",
    )
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


def create_scratch_db(settings: Settings, *, migrate: bool = True) -> Settings:
    """A new empty database owned by the owner role, migrated to head unless told not to."""
    name = f"linja_t_{uuid.uuid4().hex[:12]}"
    asyncio.run(_admin(settings, f'CREATE DATABASE "{name}" OWNER "{settings.db_owner}"'))
    asyncio.run(_admin(settings, f'GRANT CONNECT ON DATABASE "{name}" TO "{settings.db_app_user}"'))
    scratch = settings.model_copy(update={"db_name": name})
    if migrate:
        upgrade(database_url(scratch, owner=True))
    return scratch


def drop_scratch_db(settings: Settings) -> None:
    asyncio.run(_admin(settings, f'DROP DATABASE IF EXISTS "{settings.db_name}" WITH (FORCE)'))


@pytest.fixture
def scratch_db(settings: Settings) -> Iterator[Settings]:
    """Settings pointing at a fresh, fully migrated database; dropped afterwards."""
    scratch = create_scratch_db(settings)
    try:
        yield scratch
    finally:
        drop_scratch_db(scratch)


@pytest.fixture
def empty_db(settings: Settings) -> Iterator[Settings]:
    """Settings pointing at a fresh database with no migrations applied."""
    scratch = create_scratch_db(settings, migrate=False)
    try:
        yield scratch
    finally:
        drop_scratch_db(scratch)
