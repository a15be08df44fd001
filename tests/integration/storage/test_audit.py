"""The hash-chained audit log on Postgres, and `linja audit verify`."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from ivr.cli import main
from ivr.config import Settings
from storage.auditchain import ChainVerifier
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


async def test_check_walks_only_new_rows_and_the_whole_chain_when_due(
    scratch_db: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The console's check verifies new rows onto its checkpoint (an edit of an older row is
    not seen then), notices an edited checkpoint row at once, and walks everything again
    with ``full`` or once FULL_EVERY has passed."""
    await append(scratch_db, 10)
    now = [1000.0]
    engine = make_engine(scratch_db, pool_size=1)
    try:
        log = AuditLog(session_factory(engine), clock=lambda: now[0])
        fed: list[int] = []
        real_feed = log._feed

        async def counting_feed(verifier: ChainVerifier, *, batch: int) -> None:
            before = verifier.rows
            await real_feed(verifier, batch=batch)
            fed.append(verifier.rows - before)

        monkeypatch.setattr(log, "_feed", counting_feed)
        first = await log.check(batch=3)
        assert (first.report.ok, first.report.rows, first.full_age) == (True, 10, 0.0)
        await append(scratch_db, 5)
        now[0] += 60
        second = await log.check(batch=3)
        assert (second.report.ok, second.report.rows, second.full_age) == (True, 15, 60.0)
        assert fed == [10, 5]  # only the new rows were read and hashed

        # An edit of an old row: not seen until the whole chain is walked.
        await tamper(scratch_db, """UPDATE audit_log SET actor = 'user:x' WHERE id = 4""")
        assert (await log.check()).report.ok
        full = await log.check(full=True)
        assert (full.report.ok, full.report.broken_id, full.full_age) == (False, 4, 0.0)
        assert "edited" in (full.report.reason or "")

        # With the old row put back: a fresh log whose checkpoint row is then edited notices
        # it at the next check, and FULL_EVERY forces a whole walk by itself.
        clean = AuditLog(session_factory(engine), clock=lambda: now[0])
        await tamper(scratch_db, """UPDATE audit_log SET actor = 'user:u3' WHERE id = 4""")
        assert (await clean.check()).report.ok
        await tamper(scratch_db, "UPDATE audit_log SET row_hash = repeat('0', 64) WHERE id = 15")
        edited_head = await clean.check()
        assert not edited_head.report.ok and edited_head.report.broken_id == 15
        await tamper(scratch_db, """UPDATE audit_log SET actor = 'user:y' WHERE id = 2""")
        now[0] += AuditLog.FULL_EVERY
        due = await clean.check()
        assert (due.report.broken_id, due.full_age) == (2, 0.0)
    finally:
        await engine.dispose()
