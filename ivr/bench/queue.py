"""``make bench-queue``: callers through the menu into a queue, and SIPp agents serving them.

On the developer's stack (loopback only, bounded in calls and time), with the demo tenant's
number 200 (menu ``main``: 2 = queue ``support``, ring-all to agent1..agent3):

1. **into the queue**: the three agents logged in and paused (a queue with nobody logged in
   refuses callers), callers press 2 and hang up after 3 s in the queue. A binary search
   (RFC 7501 style) for the highest rate whose burst of ``seconds`` has zero failed calls,
   puts every caller into the queue (the controller logs each one leaving it as
   ``abandoned``) and leaves no channel. Per burst: calls ok / failed, callers who reached
   the queue, p50 / p95 / p99 INVITE→200 (ms), channels left, the controller's CPU per call
   (net of its idle work) and RSS, Asterisk's CPU per call.
2. **served**: the agents unpaused, each a SIPp phone registered with Asterisk that answers
   and talks for 1 s; callers at a steady rate wait for an agent. Printed: calls answered by
   the phones, per agent, the callers' wait (the controller's ``answered after``), and
   whether any phone ever had two calls at once (from the phones' answer and hang-up times).

For the run only, the controller and Asterisk get a copy of the project's dialplan whose
``support`` queue holds up to ``BENCH_MAX_LENGTH`` callers (the demo's 20 would refuse
callers beyond that at once, which is the queue's limit, not the controller's); the
project's dialplan is reloaded at the end. A bench admin of the demo tenant
(``bench-queue``, a new random password each run, disabled at the end) logs the agents in
and out through the API.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import re
import secrets
import shutil
import statistics
import subprocess
import tempfile
import time
import urllib.request
from base64 import b64encode
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

from ivr.bench import procstat
from ivr.bench.rig import ControllerProcess, Rig, linja
from ivr.bench.sipp import free_media_port, free_udp_port, run_load
from ivr.bench.trial import HEADER, Row, format_row
from ivr.config import Settings, project_root
from storage.db import short_lived_sessions
from storage.domain import Actor
from storage.errors import NotFound
from storage.events import Role
from storage.repositories.tenants import TenantRepository
from storage.repositories.users import UserRepository

SCENARIOS = project_root() / "sipp-scenarios"
MENU = "200"
QUEUE = "support"
AGENTS = ("agent1", "agent2", "agent3")
ADMIN = "bench-queue"
WAIT_MS = 3000
BENCH_MAX_LENGTH = 5000
ANSWERED = re.compile(r"\] agent (\S+) answered after ([0-9.]+)s in queue")


@dataclass(frozen=True)
class Plan:
    seconds: float = 10.0
    settle: float = 8.0
    low: float = 5.0
    high: float = 120.0
    resolution: float = 5.0
    served_rate: float = 0.4
    served_calls: int = 24
    talk_ms: int = 1000

    @classmethod
    def from_env(cls) -> Plan:
        if os.environ.get("LINJA_BENCH_QUICK"):
            return cls(seconds=4.0, settle=5.0, resolution=20.0, served_calls=8)
        return cls()


@contextmanager
def bench_dialplan(workdir: Path) -> Iterator[None]:
    """The project's dialplan with a long ``support`` queue, published for the block."""
    copy = workdir / "dialplan"
    shutil.copytree(project_root() / "dialplan", copy)
    flows = copy / "flows" / "demo.toml"
    text = flows.read_text()
    head = f"[queues.{QUEUE}]\n"
    if head not in text:
        raise SystemExit(f"the demo flows have no {head.strip()}")
    flows.write_text(text.replace(head, f"{head}max_length = {BENCH_MAX_LENGTH}\n", 1))
    linja("dialplan", "reload", "--dir", str(copy))
    try:
        yield
    finally:
        linja("dialplan", "reload")


def waiting_scenario(workdir: Path) -> Path:
    """caller-waits-then-hangs-up.xml with timer 1 = INVITE→200 and no shell per call (its
    timestamp files are for the tests)."""
    text = (SCENARIOS / "caller-waits-then-hangs-up.xml").read_text()
    shell = r'\s*<nop>\s*<action>\s*<exec command="date[^"]*"/>\s*</action>\s*</nop>'
    text = re.sub(shell, "", text)
    text = text.replace('<send retrans="500">', '<send retrans="500" start_rtd="1">', 1)
    answer = '<recv response="200" rrs="true"/>'
    text = text.replace(answer, answer.replace("/>", ' rtd="1"/>'), 1)
    path = workdir / "bench-queue-caller.xml"
    path.write_text(text)
    return path


async def _bench_admin(settings: Settings, password: str, *, enabled: bool) -> None:
    async with short_lived_sessions(settings, owner=True) as sessions:
        users = UserRepository(sessions)
        actor = Actor.system("bench-queue")
        try:
            user = await users.by_login(ADMIN)
        except NotFound:
            tenant = await TenantRepository(sessions).by_slug("demo")
            user = await users.create(
                tenant_id=tenant.id, name="Queue bench", login=ADMIN, password=password,
                role=Role.ADMIN, actor=actor,
            )  # fmt: skip
        if enabled:
            await users.set_password(user.id, password, actor)
            await users.enable(user.id, actor)
        else:
            await users.disable(user.id, actor)


class Api:
    def __init__(self, settings: Settings, password: str) -> None:
        self._base = f"http://{settings.bind}:{settings.http_port}"
        token = b64encode(f"{ADMIN}:{password}".encode()).decode()
        self._headers = {"Authorization": f"Basic {token}"}

    def agent(self, agent: str, action: str) -> None:
        req = urllib.request.Request(
            f"{self._base}/api/agents/{agent}/{action}", method="POST", headers=self._headers
        )
        with urllib.request.urlopen(req, timeout=10):
            pass


class Phone:
    """An agent's SIPp phone (UAS) registered with Asterisk, answering and talking."""

    def __init__(self, settings: Settings, login: str, workdir: Path, plan: Plan) -> None:
        self.settings, self.login, self.workdir = settings, login, workdir / login
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.port = free_udp_port()
        self._password = json.loads((settings.state_dir / "agent-sip.json").read_text())[login]
        self.proc = subprocess.Popen(
            [
                "sipp", f"{settings.bind}:{settings.sip_port}",
                "-sf", str(SCENARIOS / "agent-answers-and-talks.xml"), "-s", login,
                "-i", "127.0.0.1", "-p", str(self.port), "-mp", str(free_media_port()),
                "-m", str(plan.served_calls), "-d", str(plan.talk_ms),
                "-timeout", f"{int(plan.served_calls / plan.served_rate + 120)}s", "-nostdin",
            ],
            cwd=self.workdir, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        self.register(120)

    def register(self, expires: int) -> None:
        subprocess.run(
            [
                "sipp", f"{self.settings.bind}:{self.settings.sip_port}",
                "-sf", str(SCENARIOS / "agent-registers.xml"), "-s", self.login,
                "-i", "127.0.0.1", "-p", str(free_udp_port()), "-m", "1",
                "-au", self.login, "-ap", self._password,
                "-key", "contact_port", str(self.port), "-key", "expires", str(expires),
                "-timeout", "15s", "-timeout_error", "-nostdin",
            ],
            cwd=self.workdir, capture_output=True, check=True, timeout=30,
        )  # fmt: skip

    def calls(self) -> list[tuple[float, float]]:
        """(answered, hung up) epoch seconds of each call the phone took."""
        out = []
        for answered in self.workdir.glob("answered_*.ts"):
            bye = answered.with_name(answered.name.replace("answered_", "bye_"))
            if bye.exists():
                out.append((float(answered.read_text()), float(bye.read_text())))
        return sorted(out)

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.register(0)


@contextmanager
def phones(settings: Settings, workdir: Path, plan: Plan) -> Iterator[list[Phone]]:
    started: list[Phone] = []
    try:
        for login in AGENTS:
            started.append(Phone(settings, login, workdir, plan))
        yield started
    finally:
        for phone in started:
            phone.close()


def overlaps(calls: list[tuple[float, float]]) -> int:
    return sum(1 for a, b in itertools.pairwise(calls) if b[0] < a[1])


def into_queue(
    rig: Rig, ctl: ControllerProcess, scenario: Path, workdir: Path, plan: Plan, idle: float
) -> tuple[float, list[Row]]:
    """The binary search of phase 1; returns the highest passing rate and the rows."""
    rows: list[Row] = []

    def trial(rate: float) -> Row:
        calls = max(1, round(rate * plan.seconds))
        before = ctl.log_path.read_text(errors="replace").count(f"left queue {QUEUE}: abandoned")
        t0 = time.monotonic()
        c0, a0 = ctl.sample(), rig.asterisk_pid()
        ast0 = procstat.sample(a0) if a0 else None
        result = run_load(
            rig.settings, scenario, workdir / f"queue-{rate:g}-{int(t0)}", service=MENU,
            rate=rate, calls=calls, call_timeout_s=WAIT_MS / 1000 + 15,
            extra=["-key", "digit", "2", "-d", str(WAIT_MS)],
        )  # fmt: skip
        elapsed = time.monotonic() - t0
        c1 = ctl.sample()
        ast1 = procstat.sample(a0) if a0 else None
        time.sleep(plan.settle)
        left = rig.channels()
        if left:
            rig.hangup_all()
            time.sleep(1)
        entered = (
            ctl.log_path.read_text(errors="replace").count(f"left queue {QUEUE}: abandoned")
            - before
        )
        missing = max(0, result.ok - entered)  # answered, but never in the queue
        row = Row(
            path="queue", rate=rate, ok=result.ok, failed=result.failed + missing,
            p50=result.percentile(50), p95=result.percentile(95), p99=result.percentile(99),
            left=left, ctl_cpu_s=c1.cpu_s - c0.cpu_s, ctl_rss_mb=c1.rss_mb,
            ast_cpu_s=None if ast0 is None or ast1 is None else ast1.cpu_s - ast0.cpu_s,
            seconds=elapsed, idle_cpu_s=idle * elapsed,
        )  # fmt: skip
        print(f"{format_row(row)}   ({entered} of {calls} reached the queue)", flush=True)
        return row

    good, bad = 0.0, plan.high
    rate = (plan.low + plan.high) / 2
    while bad - good > plan.resolution:
        row = trial(rate)
        rows.append(row)
        if row.passed:
            good = rate
        else:
            bad = rate
        rate = round((good + bad) / 2) or plan.low
    return good, rows


def served(settings: Settings, ctl: ControllerProcess, api: Api, workdir: Path, plan: Plan) -> None:
    """Phase 2: the phones answer; prints what they and the controller saw."""
    log_start = len(ctl.log_path.read_text(errors="replace"))
    with phones(settings, workdir, plan) as agents:
        for agent in AGENTS:
            api.agent(agent, "unpause")
        result = run_load(
            settings, SCENARIOS / "caller-talks-to-agent.xml", workdir / "served",
            service=MENU, rate=plan.served_rate, calls=plan.served_calls,
            call_timeout_s=120, extra=["-key", "digit", "2", "-d", "1500"],
        )  # fmt: skip
        time.sleep(plan.talk_ms / 1000 + 2)
        per_agent = {p.login: p.calls() for p in agents}
    waits = [float(m.group(2)) for m in ANSWERED.finditer(ctl.log_path.read_text()[log_start:])]
    taken = sum(len(c) for c in per_agent.values())
    double = sum(overlaps(c) for c in per_agent.values())
    print(
        f"served: {plan.served_calls} callers at {plan.served_rate:g}/s, {result.ok} ok, "
        f"{result.failed} failed; the phones answered {taken} "
        f"({', '.join(f'{a} {len(c)}' for a, c in per_agent.items())}); "
        f"a phone with two calls at once: {double} time(s)"
    )
    if waits:
        q = statistics.quantiles(waits, n=20, method="inclusive") if len(waits) > 1 else waits * 19
        print(
            f"served: wait in the queue p50 {statistics.median(waits):.1f} s, "
            f"p95 {q[18]:.1f} s, max {max(waits):.1f} s ({len(waits)} answered)"
        )


def main() -> None:
    plan = Plan.from_env()
    settings = Settings()
    workdir = Path(tempfile.mkdtemp(prefix="bench-queue-"))
    rig = Rig(settings, workdir)
    ctl = ControllerProcess(settings, workdir / "controller.log")
    password = secrets.token_urlsafe(18)
    started = time.monotonic()
    asyncio.run(_bench_admin(settings, password, enabled=True))
    try:
        with bench_dialplan(workdir):
            rows = run(settings, rig, ctl, Api(settings, password), workdir, plan)
    finally:
        asyncio.run(_bench_admin(settings, password, enabled=False))
    print(f"== bench-queue ({time.monotonic() - started:.0f} s, logs in {workdir})")
    print(HEADER)
    for row in sorted(rows, key=lambda r: r.rate):
        print(format_row(row))


def run(
    settings: Settings, rig: Rig, ctl: ControllerProcess, api: Api, workdir: Path, plan: Plan
) -> list[Row]:
    """Both phases with the controller running; returns phase 1's rows."""
    ctl.start()
    try:
        idle0 = ctl.sample()
        time.sleep(5)
        idle = (ctl.sample().cpu_s - idle0.cpu_s) / 5
        for agent in AGENTS:
            api.agent(agent, "login")
            api.agent(agent, "pause")
        load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
        print(f"controller pid {ctl.pid}, idle CPU {idle * 1000:.1f} ms/s; load average {load}")
        print(HEADER, flush=True)
        ceiling, rows = into_queue(rig, ctl, waiting_scenario(workdir), workdir, plan, idle)
        print(f"into the queue: highest zero-failure rate {ceiling:.0f} calls/s")
        served(settings, ctl, api, workdir, plan)
        return rows
    finally:
        for agent in AGENTS:
            with suppress(OSError):
                api.agent(agent, "logout")
        ctl.stop()


if __name__ == "__main__":
    main()
