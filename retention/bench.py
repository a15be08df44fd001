"""`make bench-retention`: how fast the sweeper deletes expired audio, and in how much memory.

In a scratch database it creates and drops, seeds ``--files`` (default 200,000) expired
recordings with small files in a temporary audio store, then runs ``linja sweep`` as a
child process and measures files per second and the child's peak RSS. The baseline, in
the same run: ``find -type f -delete`` over an identical set of files (same count, same
layout). The ratio sweeper / find is the figure to compare between machines: the sweeper
does per batch two transactions, the unlinks and an audit entry; ``find`` only unlinks.

After the sweep it checks that every row is marked deleted and the store holds no file.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from ivr.config import Settings, project_root
from recording.store import AudioKind, location_for
from retention.seed import seed_audio, seed_case
from retention.sweeper import file_count
from storage.db import connect
from storage.scratch import scratch_database

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
CHUNK = 10_000


@dataclass(frozen=True, slots=True)
class Measured:
    seconds: float
    peak_rss_kib: int
    returncode: int


def _hwm_kib(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except (FileNotFoundError, ProcessLookupError, ValueError):
        pass
    return 0


def _run_child(argv: list[str], env: dict[str, str] | None = None) -> Measured:
    """Run a child to completion: wall time, and its peak RSS (``VmHWM``, polled every 5 ms
    while it runs; rusage would count the forking parent's memory too)."""
    started = time.perf_counter()
    proc = subprocess.Popen(
        argv, env=env, cwd=project_root(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    peak = 0
    while proc.poll() is None:
        peak = max(peak, _hwm_kib(proc.pid))
        time.sleep(0.005)
    seconds = time.perf_counter() - started
    if proc.returncode != 0 and proc.stderr is not None:
        sys.stderr.write(proc.stderr.read().decode(errors="replace")[-2000:])
    if proc.stderr is not None:
        proc.stderr.close()
    return Measured(seconds, peak, proc.returncode)


async def _seed(db: Settings, store: Path, files: int) -> uuid.UUID:
    conn = await connect(db)
    try:
        tid = uuid.uuid4()
        await conn.execute(
            "INSERT INTO tenants (id, slug, name, recording_retention) "
            "VALUES ($1, 'bench', 'Bench Oy', interval '1 day')",
            tid,
        )
        done = 0
        while done < files:
            n = min(CHUNK, files - done)
            case = await seed_case(conn, tid, NOW - timedelta(days=30))
            times = [NOW - timedelta(days=10, seconds=done + i) for i in range(n)]
            await seed_audio(conn, store, tid, case, times)
            done += n
        return tid
    finally:
        await conn.close()


def _baseline_files(root: Path, tenant_id: uuid.UUID, files: int) -> None:
    """The same count and layout as the seeded store, for ``find -delete``."""
    payload = b"RIFF" + b"\x00" * 60
    made: set[Path] = set()
    for i in range(files):
        at = NOW - timedelta(days=10, seconds=i)
        path = root / location_for(AudioKind.RECORDING, tenant_id, uuid.uuid4(), at)
        if path.parent not in made:
            path.parent.mkdir(parents=True, exist_ok=True)
            made.add(path.parent)
        with open(path, "wb") as f:
            f.write(payload)


async def _check(db: Settings) -> tuple[int, int]:
    conn = await connect(db)
    try:
        live = await conn.fetchval("SELECT count(*) FROM recordings WHERE deleted_at IS NULL")
        gone = await conn.fetchval(
            "SELECT count(*) FROM recordings WHERE deletion_reason = 'retention'"
        )
        return int(live), int(gone)
    finally:
        await conn.close()


async def run(settings: Settings, files: int, batch: int) -> None:
    work = Path(tempfile.mkdtemp(prefix="linja-bench-retention-"))
    try:
        async with scratch_database(settings, prefix="linja_b") as db:
            store = work / "store"
            t0 = time.perf_counter()
            tid = await _seed(db, store, files)
            seeded = file_count(store)
            print(f"seeded {seeded} rows + files in {time.perf_counter() - t0:.1f}s")
            env = dict(os.environ, LINJA_DB_NAME=db.db_name, LINJA_AUDIO_DIR=str(store))
            sweep = _run_child(
                [sys.executable, "-m", "ivr.cli", "sweep", "--now", NOW.isoformat(),
                 "--batch", str(batch)],
                env,
            )  # fmt: skip
            if sweep.returncode != 0:
                raise SystemExit(f"linja sweep failed with exit code {sweep.returncode}")
            live, gone = await _check(db)
            left = file_count(store)
            if live or gone != files or left:
                raise SystemExit(
                    f"sweep incomplete: {live} live rows, {gone} deleted, {left} files"
                )

        base = work / "baseline"
        _baseline_files(base, tid, files)
        if file_count(base) != files:
            raise SystemExit("baseline set is not identical in size")
        find = _run_child(["find", str(base), "-type", "f", "-delete"])
        if find.returncode != 0 or file_count(base):
            raise SystemExit("find -delete failed")
    finally:
        shutil.rmtree(work, ignore_errors=True)

    sweep_rate = files / sweep.seconds
    find_rate = files / find.seconds
    print(f"files                   {files}")
    print(f"linja sweep             {sweep.seconds:8.2f} s  {sweep_rate:10.0f} files/s  "
          f"peak RSS {sweep.peak_rss_kib / 1024:6.1f} MiB  (batch {batch})")  # fmt: skip
    print(f"find -type f -delete    {find.seconds:8.2f} s  {find_rate:10.0f} files/s  "
          f"peak RSS {find.peak_rss_kib / 1024:6.1f} MiB")  # fmt: skip
    print(f"ratio sweep/find        {sweep_rate / find_rate:8.3f}")
    print("(peak RSS: the child's VmHWM sampled every 5 ms; the sweep is one Python process)")


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m retention.bench", description=__doc__)
    parser.add_argument("--files", type=int, default=200_000)
    parser.add_argument("--batch", type=int, default=1000)
    args = parser.parse_args()
    if not 1 <= args.files <= 2_000_000 or not 1 <= args.batch <= 50_000:
        parser.error("--files must be 1..2000000 and --batch 1..50000")
    asyncio.run(run(Settings(), args.files, args.batch))


if __name__ == "__main__":
    main()
