"""The retention sweeper against the real Postgres and real files.

Each test gets its own migrated scratch database (the sweeper sweeps every tenant in it) and
its own audio store directory. The clock is injected (in process) or given as ``--now``
(the CLI), so the tests travel in time instead of waiting.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from ivr.config import Settings, project_root
from ivr.features.sweep.cli import run_sweep
from recording.journal import RowJournal
from recording.store import AudioKind, AudioStore
from retention.seed import Seeded, seed_audio, seed_case, store_files
from retention.sweeper import SweepConfig, Sweeper
from storage.db import session_factory
from storage.domain import Actor
from storage.errors import StorageUnavailable
from storage.events import RecordingCompleted
from storage.repositories.audit import AuditLog
from storage.repositories.cases import BlankedBatch, CaseRepository
from storage.repositories.sweep import Claimed, SweepLock, SweepRepository

pytestmark = pytest.mark.integration

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
SECOND = timedelta(seconds=1)


async def new_tenant(
    conn: asyncpg.Connection, recordings: str, voice: str = "3 months", cases: str = "12 months"
) -> uuid.UUID:
    tid = uuid.uuid4()
    await conn.execute(
        "INSERT INTO tenants (id, slug, name, recording_retention, voicemail_retention, "
        "case_retention) VALUES ($1, $2, 'Testi Oy', "
        "$3::text::interval, $4::text::interval, $5::text::interval)",
        tid,
        f"t-{tid.hex[:10]}",
        recordings,
        voice,
        cases,
    )
    return tid


async def boundary(conn: asyncpg.Connection, now: datetime, retention: str) -> datetime:
    """``now - retention`` computed by Postgres (calendar months)."""
    value: datetime = await conn.fetchval(
        "SELECT $1::timestamptz - $2::text::interval", now, retention
    )
    return value


def sweeper(engine: AsyncEngine, store: Path, now: datetime, **config: object) -> Sweeper:
    sessions = session_factory(engine)
    return Sweeper(
        SweepRepository(sessions),
        SweepLock(engine),
        CaseRepository(sessions),
        AudioStore(store),
        lambda: now,
        SweepConfig(**config),  # type: ignore[arg-type]
        actor=Actor.system("test-sweeper"),
        journal=RowJournal(store / ".journal"),
    )


async def live_ids(conn: asyncpg.Connection, table: str = "recordings") -> set[uuid.UUID]:
    rows = await conn.fetch(f"SELECT id FROM {table} WHERE deleted_at IS NULL")
    return {r["id"] for r in rows}


async def deletion_audits(conn: asyncpg.Connection) -> list[str]:
    """Every audio id named by an ``audio.deleted`` audit entry (repeats kept)."""
    rows = await conn.fetch(
        "SELECT jsonb_array_elements_text(details->'ids') AS id FROM audit_log "
        "WHERE action = 'audio.deleted'"
    )
    return [r["id"] for r in rows]


async def check_invariant(conn: asyncpg.Connection, store: Path) -> None:
    """Every live row has its file; every file has a live row; no half-done deletion."""
    live = {
        r["location"]
        for r in await conn.fetch(
            "SELECT location FROM recordings WHERE deleted_at IS NULL UNION ALL "
            "SELECT location FROM voice_messages WHERE deleted_at IS NULL"
        )
    }
    files = store_files(store)
    assert not (live - files), f"live rows without a file: {sorted(live - files)[:5]}"
    assert not (files - live), f"files without a live row: {sorted(files - live)[:5]}"
    stuck = await conn.fetchval(
        "SELECT (SELECT count(*) FROM recordings WHERE deleting_since IS NOT NULL) + "
        "(SELECT count(*) FROM voice_messages WHERE deleting_since IS NOT NULL)"
    )
    assert stuck == 0


# ----- boundaries -------------------------------------------------------------------------


@pytest.mark.parametrize("retention", ["1 day", "36 months"])
async def test_retention_boundary_one_second_either_side(
    engine: AsyncEngine, conn: asyncpg.Connection, tmp_path: Path, retention: str
) -> None:
    tid = await new_tenant(conn, recordings=retention, voice=retention)
    edge = await boundary(conn, NOW, retention)
    case = await seed_case(conn, tid, edge - timedelta(days=1), number="+358401111111")
    older, exact, newer = edge - SECOND, edge, edge + SECOND
    rec = await seed_audio(conn, tmp_path, tid, case, [older, exact, newer])
    vm = await seed_audio(conn, tmp_path, tid, case, [older, newer], kind=AudioKind.VOICE_MESSAGE)
    held = await seed_audio(conn, tmp_path, tid, case, [older - timedelta(days=400)], held=True)

    report = await sweeper(engine, tmp_path, NOW).run()

    assert report.deleted == {"recording": 1, "voice_message": 1}
    assert await live_ids(conn) == {rec[1].id, rec[2].id, held[0].id}
    assert await live_ids(conn, "voice_messages") == {vm[1].id}
    row = await conn.fetchrow(
        "SELECT deleted_at, deletion_reason FROM recordings WHERE id = $1", rec[0].id
    )
    assert (row["deleted_at"], row["deletion_reason"]) == (NOW, "retention")
    assert not (tmp_path / rec[0].location).exists()
    assert not (tmp_path / vm[0].location).exists()
    assert (tmp_path / held[0].location).exists()
    await check_invariant(conn, tmp_path)
    assert sorted(await deletion_audits(conn)) == sorted([str(rec[0].id), str(vm[0].id)])

    # One second later the one exactly at the boundary goes too; then nothing more.
    later = await sweeper(engine, tmp_path, NOW + SECOND).run()
    assert later.deleted == {"recording": 1, "voice_message": 0}
    assert await live_ids(conn) == {rec[2].id, held[0].id}
    again = await sweeper(engine, tmp_path, NOW + SECOND).run()  # idempotent
    assert again.deleted == {"recording": 0, "voice_message": 0}
    await check_invariant(conn, tmp_path)
    assert (await AuditLog(session_factory(engine)).verify()).ok


async def test_legal_hold_is_never_swept_and_release_lets_it_go(
    scratch_db: Settings, engine: AsyncEngine, conn: asyncpg.Connection, tmp_path: Path
) -> None:
    tid = await new_tenant(conn, recordings="1 day")
    case = await seed_case(conn, tid, NOW - timedelta(days=30))
    (rec,) = await seed_audio(conn, tmp_path, tid, case, [NOW - timedelta(days=10)])
    env = cli_env(scratch_db, tmp_path)
    placed = linja(env, "legal-hold", "place", "--recording", str(rec.id), "--reason", "court")
    assert placed.returncode == 0, placed.stderr
    assert (await sweeper(engine, tmp_path, NOW + timedelta(days=3000)).run()).deleted == {
        "recording": 0,
        "voice_message": 0,
    }
    assert (tmp_path / rec.location).exists()
    released = linja(env, "legal-hold", "release", "--recording", str(rec.id), "--reason", "done")
    assert released.returncode == 0, released.stderr
    assert (await sweeper(engine, tmp_path, NOW).run()).deleted["recording"] == 1
    assert not (tmp_path / rec.location).exists()
    # A deleted recording cannot be held; an unknown id is a usage error.
    again = linja(env, "legal-hold", "place", "--recording", str(rec.id), "--reason", "late")
    assert again.returncode == 2 and "deleted" in again.stderr
    unknown = linja(env, "legal-hold", "place", "--recording", str(uuid.uuid4()), "--reason", "x")
    assert unknown.returncode == 2 and "not found" in unknown.stderr
    actions = [r["action"] for r in await conn.fetch("SELECT action FROM audit_log ORDER BY id")]
    assert actions.count("audio.hold") == 1 and actions.count("audio.release") == 1


async def test_case_personal_data_is_anonymised_past_case_retention(
    engine: AsyncEngine, conn: asyncpg.Connection, tmp_path: Path
) -> None:
    tid = await new_tenant(conn, recordings="3 months", cases="1 day")
    old = await seed_case(conn, tid, NOW - timedelta(days=2), number="0401234567", name="Maija")
    new = await seed_case(conn, tid, NOW - timedelta(hours=2), number="0409999999")
    report = await sweeper(engine, tmp_path, NOW).run()
    assert report.cases_blanked == 1
    row = await conn.fetchrow("SELECT * FROM cases WHERE id = $1", old)
    assert row["caller_number"] is None and row["caller_name"] is None
    assert row["personal_data_erased_at"] == NOW
    assert row["total_time"] == timedelta(minutes=2)  # statistics stay
    assert await conn.fetchval("SELECT caller_number FROM cases WHERE id = $1", new) == "0409999999"


# ----- crash safety -----------------------------------------------------------------------


async def test_unfinished_deletions_strays_and_temps_are_cleaned_up(
    engine: AsyncEngine, conn: asyncpg.Connection, tmp_path: Path
) -> None:
    tid = await new_tenant(conn, recordings="3 months")
    case = await seed_case(conn, tid, NOW - timedelta(days=1))
    fresh = [NOW - timedelta(hours=i + 1) for i in range(5)]
    a, b, c, d, e = await seed_audio(conn, tmp_path, tid, case, fresh)
    # a: claimed by a crashed sweep, file still there; b: claimed, file already unlinked;
    # c: marked deleted by someone who never removed the file; e: an erasure in progress.
    await conn.execute(
        "UPDATE recordings SET deleting_since = now() - interval '1 hour', "
        "deleting_reason = 'retention' WHERE id = ANY($1)",
        [a.id, b.id],
    )
    (tmp_path / b.location).unlink()
    await conn.execute(
        "UPDATE recordings SET deleted_at = now(), deletion_reason = 'manual' WHERE id = $1", c.id
    )
    await conn.execute(
        "UPDATE recordings SET deleting_since = now(), deleting_reason = 'erasure' WHERE id = $1",
        e.id,
    )
    store = AudioStore(tmp_path)
    old_orphan = f"{tid}/recordings/2026/01/{uuid.uuid4()}.wav"
    young_orphan = f"{tid}/recordings/2026/11/{uuid.uuid4()}.wav"
    for loc in (old_orphan, young_orphan):
        store.path(loc).parent.mkdir(parents=True, exist_ok=True)
        store.path(loc).write_bytes(b"x")
    temp = store.path(d.location).with_name(f".{uuid.uuid4()}.wav.123.tmp")
    temp.write_bytes(b"half")
    two_days_ago = time.time() - 2 * 86400
    os.utime(store.path(old_orphan), (two_days_ago, two_days_ago))
    os.utime(temp, (two_days_ago, two_days_ago))

    report = await sweeper(engine, tmp_path, NOW).run()

    assert report.recovered == 2 and report.missing_files == 1
    assert report.orphans_removed == 1 and report.tombstoned_removed == 1
    assert report.orphans_young == 1 and report.temps_removed == 1
    assert await live_ids(conn) == {d.id, e.id}  # e: its eraser may still be running
    reasons = dict(
        await conn.fetch(
            "SELECT id, deletion_reason FROM recordings WHERE id = ANY($1)", [a.id, b.id]
        )
    )
    assert reasons == {a.id: "retention", b.id: "retention"}
    files = store_files(tmp_path)
    assert files == {d.location, e.location, young_orphan}
    # Once the erasure is older than the grace period, the sweep finishes it as an erasure.
    await conn.execute(
        "UPDATE recordings SET deleting_since = now() - interval '1 hour' WHERE id = $1", e.id
    )
    (tmp_path / young_orphan).unlink()
    await sweeper(engine, tmp_path, NOW).run()
    assert (
        await conn.fetchval("SELECT deletion_reason FROM recordings WHERE id = $1", e.id)
        == "erasure"
    )
    await check_invariant(conn, tmp_path)


def cli_env(settings: Settings, store: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["LINJA_DB_NAME"] = settings.db_name
    env["LINJA_AUDIO_DIR"] = str(store)
    return env


def linja(env: dict[str, str], *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ivr.cli", *args],
        env=env,
        cwd=project_root(),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


async def test_i17_6_a_file_whose_row_is_journaled_outlives_the_grace_period(
    engine: AsyncEngine, conn: asyncpg.Connection, tmp_path: Path
) -> None:
    """A callback recording whose row could not be written yet (Postgres was down, the
    controller was killed) is not a stray: the sweeper keeps it until the row is written."""
    tid = await new_tenant(conn, recordings="3 months")
    store = AudioStore(tmp_path)
    journaled, stray = (f"{tid}/recordings/2026/11/{uuid.uuid4()}.wav" for _ in range(2))
    two_days_ago = time.time() - 2 * 86400
    for loc in (journaled, stray):
        store.path(loc).parent.mkdir(parents=True, exist_ok=True)
        store.path(loc).write_bytes(b"x")
        os.utime(store.path(loc), (two_days_ago, two_days_ago))
    RowJournal(tmp_path / ".journal").keep(
        RecordingCompleted(
            uuid.uuid4(), uuid.UUID(journaled.rsplit("/", 1)[1][:36]), "rec", journaled, NOW,
            timedelta(seconds=5), 1, "0" * 64,
        )
    )  # fmt: skip

    report = await sweeper(engine, tmp_path, NOW).run()

    assert report.orphans_journaled == 1 and report.orphans_removed == 1
    assert store.path(journaled).exists() and not store.path(stray).exists()
    assert "1 files whose row is still journaled kept" in report.summary()


@pytest.mark.parametrize("kill_at", [0.15, 0.6])
async def test_kill_9_mid_batch_then_rerun_keeps_the_invariant(
    scratch_db: Settings, conn: asyncpg.Connection, tmp_path: Path, kill_at: float
) -> None:
    n_expired = 3000
    tid = await new_tenant(conn, recordings="30 days", voice="30 days")
    case = await seed_case(conn, tid, NOW - timedelta(days=100))
    expired_times = [NOW - timedelta(days=40, seconds=i) for i in range(n_expired)]
    expired = await seed_audio(conn, tmp_path, tid, case, expired_times)
    expired_vm = await seed_audio(
        conn, tmp_path, tid, case, expired_times[:300], kind=AudioKind.VOICE_MESSAGE
    )
    fresh = await seed_audio(conn, tmp_path, tid, case, [NOW - timedelta(days=1)] * 200)
    held = await seed_audio(conn, tmp_path, tid, case, expired_times[:50], held=True)
    keep: set[Seeded] = set(fresh) | set(held)
    total_files = len(store_files(tmp_path))
    env = cli_env(scratch_db, tmp_path)
    now = NOW.isoformat()

    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "ivr.cli", "sweep", "--now", now, "--batch", "200",
        "--rate", "4000",
        env=env, cwd=project_root(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    target = total_files - int(kill_at * (n_expired + 300))
    deadline = time.monotonic() + 60
    try:
        while time.monotonic() < deadline and proc.returncode is None:
            if len(store_files(tmp_path)) <= target:
                break
            await asyncio.sleep(0.005)
        assert proc.returncode is None, "the sweep finished before it could be killed"
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        if proc.returncode is None:
            proc.kill()
        await asyncio.wait_for(proc.wait(), 10)
    assert proc.returncode == -signal.SIGKILL
    remaining = len(store_files(tmp_path))
    assert len(keep) < remaining < total_files  # killed with some but not all files gone

    rerun = linja(env, "sweep", "--now", now, "--batch", "500")
    assert rerun.returncode == 0, rerun.stderr
    await check_invariant(conn, tmp_path)
    assert await live_ids(conn) == {s.id for s in keep}
    assert await live_ids(conn, "voice_messages") == set()
    assert store_files(tmp_path) == {s.location for s in keep}
    # Each expired, unheld item deleted (and audited) exactly once; nothing else.
    audited = await deletion_audits(conn)
    assert len(audited) == len(set(audited))
    assert set(audited) == {str(s.id) for s in expired + expired_vm}
    verify = linja(env, "audit", "verify")
    assert verify.returncode == 0 and "intact" in verify.stdout


async def test_dry_run_prints_and_changes_nothing_and_bad_arguments_exit_2(
    scratch_db: Settings, conn: asyncpg.Connection, tmp_path: Path
) -> None:
    tid = await new_tenant(conn, recordings="1 day")
    case = await seed_case(conn, tid, NOW - timedelta(days=5))
    gone, stays = await seed_audio(conn, tmp_path, tid, case, [NOW - timedelta(days=2), NOW])
    env = cli_env(scratch_db, tmp_path)
    dry = linja(env, "sweep", "--dry-run", "--now", NOW.isoformat())
    assert dry.returncode == 0, dry.stderr
    assert str(gone.id) in dry.stdout and str(stays.id) not in dry.stdout
    assert "would delete 1 recordings" in dry.stdout
    assert await live_ids(conn) == {gone.id, stays.id}
    assert store_files(tmp_path) == {gone.location, stays.location}
    for args, message in (
        (["--batch", "0"], "--batch must be between"),
        (["--batch", "lots"], "not a whole number"),
        (["--now", "yesterday"], "not an ISO time"),
        (["--rate", "-5"], "--rate must be a positive number"),
    ):
        bad = linja(env, "sweep", *args)
        assert bad.returncode == 2 and message in bad.stderr, (args, bad.stderr)
    assert await conn.fetchval("SELECT count(*) FROM audit_log WHERE action LIKE 'audio.%'") == 0


# ----- issue 17, item 4: anonymising more cases than one statement can bind ----------------

MANY_CASES = 100_000  # asyncpg refuses more than 32,767 bind parameters in one statement


async def seed_many_cases(
    conn: asyncpg.Connection, tid: uuid.UUID, n: int, start: datetime
) -> None:
    """``n`` cases with a caller, one second apart going back from ``start``, in one
    statement; every 100th has a contact request with personal data."""
    await conn.execute(
        "INSERT INTO cases (id, tenant_id, channel, caller_number, caller_email, caller_name, "
        "started_at, ended_at, outcome, total_time) "
        "SELECT gen_random_uuid(), $1, 'phone', '+35840' || lpad(i::text, 7, '0'), "
        "'c' || i || '@example.fi', 'Soittaja ' || i, $2::timestamptz - i * interval '1 second', "
        "$2::timestamptz - i * interval '1 second' + interval '2 minutes', 'answered', "
        "interval '2 minutes' FROM generate_series(1, $3) AS i",
        tid,
        start,
        n,
    )
    await conn.execute(
        "INSERT INTO contact_requests (id, tenant_id, case_id, channel, requested_at, "
        "callback_number, name, message) "
        "SELECT gen_random_uuid(), tenant_id, id, 'sms', started_at, caller_number, caller_name, "
        "'soittakaa takaisin' FROM (SELECT *, row_number() OVER (ORDER BY started_at) AS k "
        "FROM cases WHERE tenant_id = $1) c WHERE k % 100 = 0",
        tid,
    )


async def test_case_anonymisation_goes_on_past_32767_expired_cases(
    scratch_db: Settings, engine: AsyncEngine, conn: asyncpg.Connection, tmp_path: Path
) -> None:
    tid = await new_tenant(conn, recordings="30 days", cases="1 day")
    await seed_many_cases(conn, tid, MANY_CASES, NOW - timedelta(days=2))
    fresh = await seed_case(conn, tid, NOW - timedelta(hours=1), number="0409999999")
    (expired_rec,) = await seed_audio(conn, tmp_path, tid, fresh, [NOW - timedelta(days=40)])
    stray = AudioStore(tmp_path).path(f"{tid}/recordings/2026/01/{uuid.uuid4()}.wav")
    stray.parent.mkdir(parents=True, exist_ok=True)
    stray.write_bytes(b"x")
    old = time.time() - 2 * 86400
    os.utime(stray, (old, old))
    timings_before = await conn.fetch(
        "SELECT id, started_at, ended_at, total_time FROM cases ORDER BY id"
    )
    settings = scratch_db.model_copy(update={"audio_dir": tmp_path})

    t0 = time.perf_counter()
    report = await run_sweep(settings, SweepConfig(), NOW, dry_run=False)  # as `linja sweep`
    print(f"\nanonymised {report.cases_blanked} cases in {time.perf_counter() - t0:.2f}s")

    assert report.cases_blanked == MANY_CASES
    left = await conn.fetchval(
        "SELECT count(*) FROM cases WHERE id <> $1 AND (caller_number IS NOT NULL "
        "OR caller_email IS NOT NULL OR caller_name IS NOT NULL "
        "OR personal_data_erased_at IS DISTINCT FROM $2)",
        fresh,
        NOW,
    )
    assert left == 0
    assert await conn.fetchval("SELECT caller_number FROM cases WHERE id = $1", fresh) == (
        "0409999999"
    )
    requests = await conn.fetchrow(
        "SELECT count(*) AS n, count(callback_number) + count(name) + count(message) AS kept, "
        "count(personal_data_erased_at) AS erased FROM contact_requests"
    )
    assert (requests["n"], requests["kept"], requests["erased"]) == (MANY_CASES // 100, 0, 1000)
    timings_after = await conn.fetch(
        "SELECT id, started_at, ended_at, total_time FROM cases ORDER BY id"
    )
    assert timings_after == timings_before
    # The other steps of the same run were done too: audio deleted, stray file removed.
    assert report.deleted["recording"] == 1 and not (tmp_path / expired_rec.location).exists()
    assert report.orphans_removed == 1 and not stray.exists()
    audited = await conn.fetchval(
        "SELECT coalesce(sum((details->>'cases')::int), 0) FROM audit_log "
        "WHERE action = 'retention.cases'"
    )
    assert audited == MANY_CASES

    again = await run_sweep(settings, SweepConfig(), NOW, dry_run=False)
    assert again.cases_blanked == 0 and again.deleted == {"recording": 0, "voice_message": 0}
    assert (await AuditLog(session_factory(engine)).verify()).ok


class CasesDown(CaseRepository):
    """Anonymisation fails as it did past 32,767 cases: the database refuses the batch."""

    async def blank_expired_batch(self, *args: Any, **kwargs: Any) -> BlankedBatch:
        raise StorageUnavailable("database unreachable: the number of query arguments")


class ClaimsDown(SweepRepository):
    """Audio deletion fails at its first claim."""

    async def claim_expired(self, *args: Any, **kwargs: Any) -> list[Claimed]:
        raise StorageUnavailable("database unreachable: connection reset")


async def seed_each_step(conn: asyncpg.Connection, store: Path) -> tuple[uuid.UUID, Seeded, Path]:
    """An expired case, an expired recording and an old stray file: work for every step."""
    tid = await new_tenant(conn, recordings="30 days", cases="1 day")
    case = await seed_case(conn, tid, NOW - timedelta(days=2), number="0401234567")
    (rec,) = await seed_audio(conn, store, tid, case, [NOW - timedelta(days=40)])
    stray = AudioStore(store).path(f"{tid}/recordings/2026/01/{uuid.uuid4()}.wav")
    stray.parent.mkdir(parents=True, exist_ok=True)
    stray.write_bytes(b"x")
    old = time.time() - 2 * 86400
    os.utime(stray, (old, old))
    return case, rec, stray


async def test_failed_anonymisation_does_not_stop_audio_deletion_or_stray_clean_up(
    engine: AsyncEngine, conn: asyncpg.Connection, tmp_path: Path
) -> None:
    case, rec, stray = await seed_each_step(conn, tmp_path)
    sessions = session_factory(engine)
    report = await Sweeper(
        SweepRepository(sessions),
        SweepLock(engine),
        CasesDown(sessions),
        AudioStore(tmp_path),
        lambda: NOW,
        actor=Actor.system("test-sweeper"),
        journal=RowJournal(tmp_path / ".journal"),
    ).run()

    assert list(report.failed) == ["cases"] and "query arguments" in report.failed["cases"]
    assert "FAILED anonymising cases: StorageUnavailable" in report.summary()
    assert report.deleted == {"recording": 1, "voice_message": 0}
    assert not (tmp_path / rec.location).exists() and not stray.exists()
    assert report.orphans_removed == 1
    assert await conn.fetchval("SELECT caller_number FROM cases WHERE id = $1", case) is not None
    await check_invariant(conn, tmp_path)
    # The next (working) sweep anonymises what this one could not.
    assert (await sweeper(engine, tmp_path, NOW).run()).cases_blanked == 1


async def test_failed_audio_deletion_does_not_stop_anonymisation_or_stray_clean_up(
    engine: AsyncEngine, conn: asyncpg.Connection, tmp_path: Path
) -> None:
    case, rec, stray = await seed_each_step(conn, tmp_path)
    sessions = session_factory(engine)
    report = await Sweeper(
        ClaimsDown(sessions),
        SweepLock(engine),
        CaseRepository(sessions),
        AudioStore(tmp_path),
        lambda: NOW,
        actor=Actor.system("test-sweeper"),
        journal=RowJournal(tmp_path / ".journal"),
    ).run()

    assert list(report.failed) == ["recordings", "voice_messages"]
    assert "FAILED deleting recordings: StorageUnavailable" in report.summary()
    assert report.cases_blanked == 1
    assert await conn.fetchval("SELECT caller_number FROM cases WHERE id = $1", case) is None
    assert report.orphans_removed == 1 and not stray.exists()
    assert (tmp_path / rec.location).exists()  # its row is live: not a stray, kept
    await check_invariant(conn, tmp_path)
