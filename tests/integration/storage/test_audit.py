"""The hash-chained audit log on Postgres, and `linja audit verify`."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from ivr.cli import main
from ivr.config import Settings
from storage.db import connect, make_engine, session_factory
from storage.domain import Actor
from storage.repositories.audit import AuditLog

pytestmark = pytest.mark.integration


async def append(settings: Settings, n: int, *, concurrent: bool = False) -> None:
    engine = make_engine(settings, pool_size=5)
    try:
        log = AuditLog(session_factory(engine))
        calls = [
            log.append(
                "user.login", Actor(f"user:u{i}"), target_type="user", target_id=uuid.uuid4(),
                details={"i": i, "ip": "127.0.0.1", "ok": True, "tags": ["a", None]},
            )
            for i in range(n)
        ]  # fmt: skip
        if concurrent:
            await asyncio.gather(*calls)
        else:
            for call in calls:
                await call
    finally:
        await engine.dispose()


async def tamper(settings: Settings, sql: str) -> None:
    """What an intruder with the superuser password could do (and the trigger prevents for
    everyone else): switch the trigger off, change history, switch it back on."""
    conn = await connect(settings, "super")
    try:
        async with conn.transaction():
            await conn.execute("ALTER TABLE audit_log DISABLE TRIGGER audit_log_append_only")
            await conn.execute(sql)
            await conn.execute("ALTER TABLE audit_log ENABLE TRIGGER audit_log_append_only")
    finally:
        await conn.close()


async def verify(settings: Settings) -> tuple[bool, int | None, int]:
    engine = make_engine(settings, pool_size=1)
    try:
        r = await AuditLog(session_factory(engine)).verify(batch=7)  # several pages
        return r.ok, r.broken_id, r.rows
    finally:
        await engine.dispose()


async def test_concurrent_appends_keep_one_chain(scratch_db: Settings) -> None:
    await append(scratch_db, 40, concurrent=True)
    assert await verify(scratch_db) == (True, None, 40)


def test_cli_detects_an_edited_row(
    scratch_db: Settings, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("LINJA_DB_NAME", scratch_db.db_name)
    assert main(["audit", "verify"]) == 0
    assert "audit log intact: empty" in capsys.readouterr().out

    asyncio.run(append(scratch_db, 20))
    assert main(["audit", "verify"]) == 0
    out = capsys.readouterr().out
    assert "intact: 20 rows, head id 20" in out

    asyncio.run(
        tamper(
            scratch_db, """UPDATE audit_log SET details = '{"i": 12, "ok": false}' WHERE id = 13"""
        )
    )
    assert main(["audit", "verify"]) == 1
    out = capsys.readouterr().out
    assert "BROKEN at row id 13" in out and "edited" in out


async def test_deleted_row_is_detected(scratch_db: Settings) -> None:
    await append(scratch_db, 10)
    await tamper(scratch_db, "DELETE FROM audit_log WHERE id = 4")
    assert await verify(scratch_db) == (False, 5, 4)


async def test_rewritten_hash_is_detected_at_the_next_row(scratch_db: Settings) -> None:
    """Editing a row *and* recomputing its hash still breaks the link from the next row."""
    await append(scratch_db, 6)
    engine = make_engine(scratch_db, pool_size=1)
    try:
        (row,) = [e for e in await AuditLog(session_factory(engine)).recent() if e.id == 3]
    finally:
        await engine.dispose()
    from storage.auditchain import AuditFields, row_hash

    forged = AuditFields(
        id=3, at=row.at, actor="user:nobody", action=row.action, target_type=row.target_type,
        target_id=row.target_id, details=row.details,
    )  # fmt: skip
    await tamper(
        scratch_db,
        "UPDATE audit_log SET actor = 'user:nobody', "
        f"row_hash = '{row_hash(row.prev_hash, forged)}' WHERE id = 3",
    )
    assert await verify(scratch_db) == (False, 4, 4)
