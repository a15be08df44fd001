"""`make bench-callout`: a call-out to ``--members`` (default 500) SIPp UAS members who
answer and press 1 after a random 1-5 s, with the total cap K = 30 and K = 60.

For each K: a controller (`linja serve`, its trunk at one SIPp UAS, ``LINJA_CALLOUT_TOTAL_CAP``
= K, the call-out's own cap K too), a call-out needing every member, and the figures: the
time from its start to the last confirmation, calls/s achieved, and the peak of calls up at
once seen at the UAS (from each INVITE to its BYE) against K. It checks that every member
was called, none twice at the same time, and that the peak never exceeded K; a member not
reached (a call lost on a loaded machine) is called again as the policy says, and counted
as a retry (the UAS answers up to three calls per member).
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from ivr.callout.service import CalloutDefaults, CalloutService, StartRequest
from ivr.callout.sipp_audio import member_audio
from ivr.config import Settings, project_root
from ivr.demo import seed_demo
from storage.db import short_lived_sessions
from storage.repositories.callouts import CalloutRepository
from storage.repositories.staff import StaffGroupRepository
from storage.repositories.tenants import TenantRepository

SCENARIO = project_root() / "sipp-scenarios" / "callout-member.xml"


@dataclass(frozen=True)
class Figures:
    cap: int
    members: int
    seconds: float
    calls: int
    peak: int
    retries: int = 0  # calls beyond one per member (a member not reached, called again)

    def line(self) -> str:
        return (
            f"K={self.cap:>3}: {self.members} confirmations in {self.seconds:6.1f} s, "
            f"{self.calls} calls, {self.calls / self.seconds:5.2f} calls/s, "
            f"peak {self.peak} at the UAS (cap {self.cap}), {self.retries} retries"
        )


def _free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _scenario(workdir: Path) -> Path:
    """callout-member.xml with the key pressed after a random 1-5 s."""
    text = SCENARIO.read_text().replace(
        '<pause milliseconds="2000"/>', '<pause distribution="uniform" min="1000" max="5000"/>'
    )
    path = workdir / "member-random.xml"
    path.write_text(text)
    return path


async def _group(settings: Settings, members: int) -> str:
    await seed_demo(settings)
    name = f"bench-{uuid.uuid4().hex[:8]}"
    async with short_lived_sessions(settings) as sessions:
        tenant = await TenantRepository(sessions).by_slug("demo")
        groups = StaffGroupRepository(sessions)
        group = await groups.create_group(tenant.id, name)
        for i in range(members):
            await groups.add_member(group.id, f"Bench {i}", f"+3584020{i:04d}1")
    return name


async def _start(settings: Settings, group: str, members: int, cap: int) -> uuid.UUID:
    async with short_lived_sessions(settings) as sessions:
        service = CalloutService(
            TenantRepository(sessions),
            StaffGroupRepository(sessions),
            CalloutRepository(sessions),
            lambda: datetime.now(UTC),
            defaults=CalloutDefaults(),
        )
        return await service.start(
            StartRequest(
                tenant="demo", group=group, message="Harjoitus.", needed=members, wait="1h",
                max_parallel=cap, max_attempts=3, retry_delay=5, ring=20, language="fi",
            )
        )  # fmt: skip


async def _status(settings: Settings, callout_id: uuid.UUID) -> tuple[str, float | None, int]:
    async with short_lived_sessions(settings) as sessions:
        repo = CalloutRepository(sessions)
        c = await repo.get(callout_id)
        assert c is not None
        members = await repo.members(callout_id)
        attempts = await repo.attempts(callout_id)
        decided = [m.decided_at for m in members if m.state == "confirmed" and m.decided_at]
        last = max(decided) if len(decided) == len(members) else None
        seconds = None if last is None else (last - c.started_at).total_seconds()
        return c.status, seconds, len(attempts)


def _peak(log: Path) -> tuple[int, Counter[str]]:
    """The peak of calls up at once at the UAS, and the INVITEs per number."""
    marks, invites = [], Counter[str]()
    for line in log.read_text().splitlines():
        _, number, what, at = line.split()
        if what == "invite":
            invites[number] += 1
            marks.append((float(at), 1))
        elif what == "end":
            marks.append((float(at), -1))
    up = peak = 0
    for _, step in sorted(marks):
        up += step
        peak = max(peak, up)
    return peak, invites


async def _overlaps(settings: Settings, callout_id: uuid.UUID) -> int:
    """Members with two attempts up at once (from the attempt rows: the UAS cannot tell a
    call it dropped from one still up)."""
    async with short_lived_sessions(settings) as sessions:
        attempts = await CalloutRepository(sessions).attempts(callout_id)
    by_member: dict[uuid.UUID, list[tuple[datetime, datetime]]] = {}
    for a in attempts:
        end = a.ended_at or datetime.max.replace(tzinfo=UTC)
        by_member.setdefault(a.callout_member_id, []).append((a.started_at, end))
    return sum(
        1
        for spans in by_member.values()
        if any(b[0] < a[1] for a, b in itertools.pairwise(sorted(spans)))
    )


def _healthy(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/health", timeout=1) as r:
            return bool(r.status == 200)
    except OSError:
        return False


def run_one(settings: Settings, group: str, members: int, cap: int, workdir: Path) -> Figures:
    port = _free_udp_port()
    env = {
        **os.environ,
        "LINJA_CALLBACK_TRUNK": f"127.0.0.1:{port}",
        "LINJA_CALLOUT_TOTAL_CAP": str(cap),
        "LINJA_CALLOUT_RATE": "20",
        "LINJA_CALLOUT_POLL_INTERVAL": "0.5",
    }
    run_dir = workdir / f"k{cap}"
    run_dir.mkdir()
    member_audio(run_dir)  # what the members say when they answer
    uas = subprocess.Popen(
        [
            "sipp", "-sf", str(_scenario(workdir)), "-i", "127.0.0.1", "-p", str(port),
            "-mp", str(_free_udp_port()), "-m", str(members * 3), "-timeout", "900s", "-nostdin",
            "-trace_err",
        ],
        cwd=run_dir, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    log = (run_dir / "controller.log").open("ab")
    ctl = subprocess.Popen(
        [sys.executable, "-m", "ivr.cli", "serve"],
        stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env,
        cwd=project_root(),
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while not _healthy(settings.http_port):
            if time.monotonic() > deadline or ctl.poll() is not None:
                raise SystemExit(f"controller did not start; see {run_dir / 'controller.log'}")
            time.sleep(0.3)
        callout_id = asyncio.run(_start(settings, group, members, cap))
        deadline = time.monotonic() + 1200
        while True:
            status, seconds, calls = asyncio.run(_status(settings, callout_id))
            if status != "running" or time.monotonic() > deadline:
                break
            time.sleep(1.0)
        if status != "confirmed" or seconds is None:
            raise SystemExit(f"K={cap}: call-out ended {status}; see {run_dir}")
        time.sleep(3)  # the last BYEs
        peak, invites = _peak(run_dir / "calls.log")
        twice = asyncio.run(_overlaps(settings, callout_id))
        if len(invites) != members or twice:
            raise SystemExit(f"K={cap}: {len(invites)} members called, {twice} twice at once")
        if peak > cap:
            raise SystemExit(f"K={cap}: peak {peak} exceeded the cap")
        return Figures(cap, members, seconds, calls, peak, sum(invites.values()) - members)
    finally:
        ctl.terminate()
        try:
            ctl.wait(timeout=20)
        except subprocess.TimeoutExpired:
            ctl.kill()
        log.close()
        uas.kill()
        uas.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, default=500)
    parser.add_argument("--caps", default="30,60", help="comma-separated K values")
    args = parser.parse_args()
    settings = Settings()
    workdir = Path(tempfile.mkdtemp(prefix="bench-callout-"))
    results = []
    for cap in (int(k) for k in args.caps.split(",")):
        group = asyncio.run(_group(settings, args.members))
        figures = run_one(settings, group, args.members, cap, workdir)
        print(figures.line(), flush=True)
        results.append(figures)
    print(f"logs in {workdir}")


if __name__ == "__main__":
    main()
