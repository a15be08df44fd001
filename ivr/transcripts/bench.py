"""``make bench-transcripts``: how fast and how big transcription is here, and that calls do
not suffer while it runs.

1. Real-time factor (processing seconds per audio second) of the runner, as the service
   runs it (``LINJA_TRANSCRIPT_THREADS``, ``_NICE``, ``_COMPUTE_TYPE``), on 8 kHz recordings
   of 10 s, 60 s and 300 s (the English test-set clip repeated), and the runner's peak RSS.
2. A controller (`linja serve`) with the demo tenant's transcripts on and a 300 s recording
   queued: while its worker transcribes, SIPp calls the bulletin (100) at ``--rate`` calls/s
   for ``--seconds``; every call must succeed (0 failed), and the transcription must have
   been running during the load.

The demo tenant's switch is put back as it was. Figures go to standard output.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from ivr.config import Settings, project_root
from ivr.demo import seed_demo
from ivr.transcripts.testset import CLIPS, render
from ivr.transcripts.worker import RunnerConfig, RunnerProcess
from storage.db import connect

LENGTHS = (10, 60, 300)
SCENARIO = project_root() / "sipp-scenarios" / "caller-hears-bulletin.xml"


def _recording(source: Path, seconds: int, out: Path) -> Path:
    """``seconds`` of 8 kHz speech: the clip repeated and cut."""
    if not out.exists():
        subprocess.run(
            ["sox", str(source), str(out), "repeat", str(seconds // 10 + 1), "trim", "0",
             str(seconds)],
            check=True, capture_output=True,
        )  # fmt: skip
    return out


async def real_time_factors(settings: Settings, files: dict[int, Path]) -> None:
    runner = RunnerProcess(
        RunnerConfig(
            settings.transcript_model,
            threads=settings.transcript_threads,
            compute_type=settings.transcript_compute_type,
            nice=settings.transcript_nice,
            idle_class=settings.transcript_idle_class,
        )
    )
    try:
        started = time.perf_counter()
        await runner.transcribe(files[10], "en")  # loads the model
        print(f"model load + first 10 s: {time.perf_counter() - started:.1f} s", flush=True)
        for seconds, path in files.items():
            r = await runner.transcribe(path, "en")
            print(
                f"{seconds:>4} s of 8 kHz audio: {r.processing_seconds:6.1f} s, "
                f"real-time factor {r.processing_seconds / r.audio_seconds:.3f}",
                flush=True,
            )
        peak = runner.peak_rss_kib()
        print(f"runner peak RSS: {peak / 1024:.0f} MiB" if peak else "runner peak RSS: unknown")
    finally:
        await runner.close()


async def _queue_recording(settings: Settings, wav: Path) -> uuid.UUID:
    """A case and a completed 300 s recording of the demo tenant (its job is queued)."""
    conn = await connect(settings, "owner")
    try:
        tenant = await conn.fetchval("SELECT id FROM tenants WHERE slug = 'demo'")
        case_id, rec_id, now = uuid.uuid4(), uuid.uuid4(), datetime.now(UTC)
        location = f"{tenant}/recordings/{now:%Y}/{now:%m}/{rec_id}.wav"
        dest = settings.audio_store_dir / location
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(wav, dest)
        data = dest.read_bytes()
        await conn.execute(
            "INSERT INTO cases (id, tenant_id, channel, started_at) VALUES ($1, $2, 'phone', $3)",
            case_id, tenant, now,
        )  # fmt: skip
        await conn.execute(
            "INSERT INTO recordings (id, tenant_id, case_id, name, location, completed_at,"
            " duration, size_bytes, sha256) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
            rec_id, tenant, case_id, f"bench-{rec_id}", location, now,
            timedelta(seconds=(len(data) - 44) / 16000), len(data),
            hashlib.sha256(data).hexdigest(),
        )  # fmt: skip
        return rec_id
    finally:
        await conn.close()


async def _sql(settings: Settings, query: str, *args: object) -> object:
    conn = await connect(settings, "owner")
    try:
        return await conn.fetchval(query, *args)
    finally:
        await conn.close()


def _healthy(settings: Settings) -> bool:
    url = f"http://{settings.bind}:{settings.http_port}/api/health"
    try:
        with urllib.request.urlopen(url, timeout=1) as r:
            return bool(r.status == 200)
    except OSError:
        return False


def _free_udp_port() -> int:
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def load_while_transcribing(
    settings: Settings, wav: Path, workdir: Path, rate: int, seconds: int
) -> bool:
    was_on = asyncio.run(
        _sql(settings, "SELECT transcripts_enabled FROM tenants WHERE slug = 'demo'")
    )
    asyncio.run(_sql(settings, "UPDATE tenants SET transcripts_enabled = true WHERE slug = 'demo'"))
    log = (workdir / "controller.log").open("ab")
    ctl = subprocess.Popen(
        [sys.executable, "-m", "ivr.cli", "serve"],
        stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        env={**os.environ, "LINJA_TRANSCRIPT_POLL_INTERVAL": "0.5"}, cwd=project_root(),
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while not _healthy(settings):
            if time.monotonic() > deadline or ctl.poll() is not None:
                raise SystemExit(f"controller did not start; see {workdir / 'controller.log'}")
            time.sleep(0.3)
        base = _load(settings, workdir / "baseline", rate, seconds)
        print(f"baseline, nothing transcribing: {base.line()}", flush=True)
        rec = asyncio.run(_queue_recording(settings, wav))
        job = "SELECT status FROM transcription_jobs WHERE recording_id = $1"
        deadline = time.monotonic() + 120
        while asyncio.run(_sql(settings, job, rec)) != "running":
            if time.monotonic() > deadline:
                raise SystemExit("the transcription job did not start")
            time.sleep(0.5)
        time.sleep(5)  # the runner has loaded the model and is transcribing
        busy = _load(settings, workdir / "busy", rate, seconds)
        state = asyncio.run(_sql(settings, job, rec))
        print(f"while transcribing 300 s:      {busy.line()}; job {state} at the end", flush=True)
        done = time.monotonic() + 900  # a 300 s recording at nice 15 on a busy machine
        while asyncio.run(_sql(settings, job, rec)) not in ("done", "failed"):
            if time.monotonic() > done:
                break
            time.sleep(1)
        took = asyncio.run(
            _sql(
                settings, "SELECT processing_seconds FROM transcripts WHERE recording_id = $1", rec
            )
        )
        print(f"the 300 s recording (under the load) took {took} s to transcribe")
        return busy.failed == 0 and busy.ok == busy.calls and state == "running"
    finally:
        ctl.terminate()
        try:
            ctl.wait(timeout=20)
        except subprocess.TimeoutExpired:
            ctl.kill()
        log.close()
        asyncio.run(
            _sql(
                settings, "UPDATE tenants SET transcripts_enabled = $1 WHERE slug = 'demo'", was_on
            )
        )


@dataclass(frozen=True)
class Load:
    calls: int
    ok: int
    failed: int
    code: int
    seconds: float

    def line(self) -> str:
        return (
            f"SIPp {self.calls} bulletin calls: {self.ok} ok, {self.failed} failed "
            f"(exit {self.code}) in {self.seconds:.1f} s"
        )


def _load(settings: Settings, workdir: Path, rate: int, seconds: int) -> Load:
    workdir.mkdir(parents=True, exist_ok=True)
    calls = rate * seconds
    started = time.perf_counter()
    sipp = subprocess.run(
        [
            "sipp", f"{settings.bind}:{settings.sip_port}", "-sf", str(SCENARIO), "-s", "100",
            "-i", "127.0.0.1", "-p", str(_free_udp_port()), "-m", str(calls), "-r", str(rate),
            "-l", str(rate * 10), "-timeout", f"{seconds * 4 + 60}s", "-timeout_error",
            "-nostdin",
        ],
        cwd=workdir, capture_output=True, text=True,
    )  # fmt: skip
    return Load(
        calls,
        _count(sipp.stdout, "Successful call"),
        _count(sipp.stdout, "Failed call"),
        sipp.returncode,
        time.perf_counter() - started,
    )


def _count(stdout: str, label: str) -> int:
    """The cumulative column of SIPp's final statistics line ``label``."""
    found = re.findall(rf"{label}\s*\|\s*\d+\s*\|\s*(\d+)", stdout)
    return int(found[-1]) if found else -1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=int, default=50, help="bulletin calls per second")
    parser.add_argument("--seconds", type=int, default=20, help="seconds of load")
    parser.add_argument("--load-only", action="store_true", help="skip the real-time factors")
    args = parser.parse_args()
    settings = Settings()
    asyncio.run(seed_demo(settings))  # the demo tenant and its bulletin number
    workdir = Path(tempfile.mkdtemp(prefix="bench-transcripts-"))
    english = next(c for c in CLIPS if c.language == "en")
    clip = render(english, workdir / "clip.wav")
    files = {n: _recording(clip, n, workdir / f"rec-{n}s.wav") for n in LENGTHS}
    print(f"Transcription bench ({os.cpu_count()} cores), files in {workdir}", flush=True)
    if not args.load_only:
        asyncio.run(real_time_factors(settings, files))
    ok = load_while_transcribing(settings, files[300], workdir, args.rate, args.seconds)
    if not ok:
        raise SystemExit("calls failed while the worker ran")


if __name__ == "__main__":
    main()
