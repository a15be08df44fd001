"""Shared fixtures. Integration fixtures need the stack (`linja stack up`, done by `make test`)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from ivr.config import Settings
from storage.scratch import create_database, drop_database


@pytest.fixture(scope="session")
def settings() -> Settings:
    return Settings()


@pytest.fixture
def scratch_db(settings: Settings) -> Iterator[Settings]:
    """Settings pointing at a fresh, fully migrated database; dropped afterwards."""
    scratch = asyncio.run(create_database(settings, prefix="linja_t"))
    try:
        yield scratch
    finally:
        asyncio.run(drop_database(scratch))


@pytest.fixture
def empty_db(settings: Settings) -> Iterator[Settings]:
    """Settings pointing at a fresh database with no migrations applied."""
    scratch = asyncio.run(create_database(settings, prefix="linja_t", migrate=False))
    try:
        yield scratch
    finally:
        asyncio.run(drop_database(scratch))
