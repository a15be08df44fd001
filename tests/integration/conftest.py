"""Integration fixtures: the real stack (Asterisk 22, Postgres), the demo tenant and a
controller subprocess."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from ivr.config import Settings
from ivr.demo import seed_demo
from ivr.stack import control
from storage.db import connect, make_engine
from tests.support import Controller, ari_get, wait_for, xdist_worker

pytestmark = pytest.mark.integration


@pytest.fixture(scope="session")
def stack(settings: Settings) -> Settings:
    """Bring the stack up (fast when it already runs) and seed the demo tenant. A parallel
    worker's `settings` fixture has brought its own stack up already."""
    up = settings if xdist_worker() is not None else control.up(Settings())
    asyncio.run(seed_demo(up))
    return up


@pytest.fixture(scope="session")
def controller_log(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("controller") / "controller.log"


@pytest.fixture
def controller(stack: Settings, tmp_path: Path) -> Iterator[Controller]:
    ctl = Controller(stack, tmp_path / "controller.log")
    ctl.start()
    try:
        yield ctl
    finally:
        ctl.stop()


@pytest.fixture
def no_live_channels(stack: Settings) -> Iterator[None]:
    """Each test starts and ends with Asterisk carrying no channel."""
    wait_for("no channels before the test", lambda: ari_get(stack, "/channels") == [], 10)
    yield
    wait_for("no channels after the test", lambda: ari_get(stack, "/channels") == [], 10)


@pytest.fixture
async def engine(scratch_db: Settings) -> AsyncIterator[AsyncEngine]:
    """The application role's engine on a fresh scratch database."""
    eng = make_engine(scratch_db, pool_size=2)
    try:
        yield eng
    finally:
        await eng.dispose()


@pytest.fixture
async def conn(scratch_db: Settings) -> AsyncIterator[asyncpg.Connection]:
    """An application-role connection to the same scratch database."""
    c = await connect(scratch_db, "app")
    try:
        yield c
    finally:
        await c.close()
