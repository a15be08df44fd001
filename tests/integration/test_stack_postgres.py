"""The private Postgres cluster outlives its state dir: a checkout made anew (or a CI clone at
the same path) brings new secrets to an old cluster, and `linja stack up` must still work."""

from __future__ import annotations

import asyncio
import logging
import shutil
import socket
import uuid
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import pytest

from ivr.config import Settings
from ivr.stack import secrets
from ivr.stack.postgres import PgCluster
from storage.db import connect

pytestmark = pytest.mark.integration


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@pytest.fixture
def pg_dir() -> Iterator[Path]:
    # Under /var/lib/linja like the stack's own cluster: the Postgres user must traverse it.
    path = Path("/var/lib/linja") / f"pg-test-{uuid.uuid4().hex[:8]}"
    yield path
    PgCluster(Settings(pg_dir=path, state_dir=path.parent / "unused")).stop("immediate")
    shutil.rmtree(path, ignore_errors=True)


def _cluster(state_dir: Path, pg_dir: Path, port: int) -> tuple[Settings, PgCluster]:
    settings = secrets.ensure(Settings(state_dir=state_dir, pg_dir=pg_dir, pg_port=port))
    return settings, PgCluster(settings)


def _up(settings: Settings, cluster: PgCluster) -> None:
    cluster.ensure_user(set())
    cluster.init(settings.db_superuser, settings.require("db_superuser_password"))
    cluster.start()
    cluster.bootstrap()


async def _owner(settings: Settings, sql: str) -> object:
    conn = await connect(settings, "owner")
    try:
        return await conn.fetchval(sql)
    finally:
        await conn.close()


def test_a_new_state_dir_takes_over_the_old_cluster_and_keeps_its_data(
    tmp_path: Path, pg_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    port = _free_port()
    first, cluster = _cluster(tmp_path / "first", pg_dir, port)
    _up(first, cluster)
    asyncio.run(_owner(first, "CREATE TABLE kept AS SELECT 42 AS answer"))
    cluster.stop()

    second, cluster = _cluster(tmp_path / "second", pg_dir, port)
    assert second.require("db_superuser_password") != first.require("db_superuser_password")
    with caplog.at_level(logging.WARNING, logger="ivr.stack.postgres"):
        _up(second, cluster)

    assert asyncio.run(_owner(second, "SELECT answer FROM kept")) == 42
    warned = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any("other secrets" in m for m in warned), warned
    for secret in ("db_superuser_password", "db_owner_password", "db_app_password"):
        for value in (first.require(secret), second.require(secret)):
            assert all(value not in m for m in warned)
    # The old passwords are gone, not merely joined by new ones.
    with pytest.raises(asyncpg.InvalidPasswordError):
        asyncio.run(_owner(first, "SELECT 1"))
