"""Helpers for integration tests: SIPp runs, a controller subprocess, ARI and DB peeks."""

from __future__ import annotations

import asyncio
import base64
import io
import json
import math
import os
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import wave
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ivr.config import Settings, project_root
from storage.db import short_lived_sessions
from storage.domain import Actor
from storage.errors import NotFound
from storage.events import Role
from storage.repositories.tenants import TenantRepository
from storage.repositories.users import UserRepository

SCENARIOS = project_root() / "sipp-scenarios"
CALLER_NUMBER = "0401234567"  # what the call-center scenarios put in From:
BULLETIN_CALLER = "0409998877"  # what the bulletin scenarios put in From:


def basic_auth(user: str, password: str) -> dict[str, str]:
    """The Authorization header of HTTP Basic auth, for requests to the controller's API."""
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


def xdist_worker() -> int | None:
    """This process's pytest-xdist worker number (gw<n>), or None outside a parallel run."""
    name = os.environ.get("PYTEST_XDIST_WORKER", "")
    return int(name.removeprefix("gw")) if name.startswith("gw") else None


def free_udp_port() -> int:
    """A fresh local port per SIPp run (Asterisk keeps retransmitting to abandoned ones)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def closed_tcp_port() -> int:
    """A loopback TCP port nobody listens on (bound, then released): a server that is down."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


MEDIA_BLOCK = (20000, 32000)  # above Asterisk's RTP range; SIPp media ports come from here
_media_next: list[int] = []  # the next port of this process's slice to try
_media_lock = threading.Lock()  # tests start SIPp runs from threads


def _media_candidate() -> int:
    """The next even port of this worker's slice of MEDIA_BLOCK, or, where the OS hands out
    ports for a bind to port 0 inside the block, any free port. In the slice no other
    process's socket bound to port 0 (another run's SIP port, say) can take the port between
    the check below and SIPp's bind (seen: "Unable to bind video RTP socket ... Address
    already in use"), and an RTCP packet Asterisk still sends to an old call's media port
    never reaches a SIP port."""
    try:
        low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        low = 0
    if low < MEDIA_BLOCK[1]:
        return free_udp_port() & ~1
    width = (MEDIA_BLOCK[1] - MEDIA_BLOCK[0]) // 16 & ~3  # 16 slices: xdist workers and more
    start = MEDIA_BLOCK[0] + (xdist_worker() or 0) % 16 * width
    with _media_lock:
        if not _media_next:
            _media_next.append(start + (os.getpid() * 4) % width)
        port = _media_next[0]
        _media_next[0] = start + (port - start + 4) % width
    return port


def free_media_port() -> int:
    """An even port with port+1..+3 free too (SIPp binds audio at -mp, video at -mp+2)."""
    for _ in range(100):
        base = _media_candidate()
        socks = []
        try:
            for off in range(4):
                s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                socks.append(s)
                s.bind(("127.0.0.1", base + off))
            return base
        except OSError:
            continue
        finally:
            for s in socks:
                s.close()
    raise RuntimeError("no free media port range")


@dataclass
class SippResult:
    returncode: int
    output: str
    rtt_ms: list[float] = field(default_factory=list)
    errors: str = ""


def run_sipp(
    scenario: str,
    workdir: Path,
    *,
    service: str = "100",
    calls: int = 1,
    rate: float = 1.0,
    limit: int | None = None,
    settings: Settings,
    timeout: float = 60.0,
    extra: list[str] | None = None,
) -> SippResult:
    """Run SIPp against Asterisk with -m calls, bounded by -timeout; collects rtd timers."""
    workdir.mkdir(parents=True, exist_ok=True)
    cmd = [
        "sipp",
        f"{settings.bind}:{settings.sip_port}",
        "-sf",
        str(SCENARIOS / scenario),
        "-s",
        service,
        "-i",
        "127.0.0.1",
        "-p",
        str(free_udp_port()),
        "-mp",
        str(free_media_port()),
        "-m",
        str(calls),
        "-r",
        str(rate),
        "-l",
        str(limit or calls),
        "-timeout",
        f"{int(timeout)}s",
        "-timeout_error",
        "-nostdin",
        "-trace_rtt",
        "-rtt_freq",
        "1",
        "-trace_err",
        *(extra or []),
    ]
    proc = subprocess.run(
        cmd,
        cwd=workdir,
        capture_output=True,
        text=True,
        errors="replace",
        timeout=timeout + 30,
        check=False,
    )
    rtt: list[float] = []
    for csv in workdir.glob("*_rtt.csv"):
        for line in csv.read_text().splitlines()[1:]:
            parts = line.split(";")
            if len(parts) >= 3 and parts[1]:
                rtt.append(float(parts[1]))
        csv.unlink()
    # the errors log quotes what SIPp discarded, bytes and all: an RTCP packet Asterisk still sends
    # to a port an earlier run left, now this run's SIP port, is no UTF-8
    errors = "".join(p.read_text(errors="replace") for p in workdir.glob("*_errors.log"))
    return SippResult(proc.returncode, proc.stdout + proc.stderr, rtt, errors)


async def owner_connection(settings: Settings) -> Any:
    """An asyncpg connection as the owner role (reads every table)."""
    import asyncpg

    return await asyncpg.connect(
        host=settings.db_host,
        port=settings.pg_port,
        user=settings.db_owner,
        password=settings.require("db_owner_password"),
        database=settings.db_name,
    )


async def fetch_rows(settings: Settings, query: str, *args: Any) -> list[Any]:
    """The rows of one query, as the owner role, on a connection of its own."""
    conn = await owner_connection(settings)
    try:
        return list(await conn.fetch(query, *args))
    finally:
        await conn.close()


def sql(settings: Settings, query: str, *args: Any) -> list[Any]:
    """:func:`fetch_rows` from synchronous test code (asyncpg records: ``row["column"]``)."""
    return asyncio.run(fetch_rows(settings, query, *args))


async def table_texts(settings: Settings) -> dict[str, str]:
    """Every row of every table of the public schema as text (one line a row), per table:
    what a test searches for personal data that must not be there."""
    conn = await owner_connection(settings)
    try:
        tables = await conn.fetch("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
        out: dict[str, str] = {}
        for t in tables:
            rows = await conn.fetch(f'SELECT t::text AS row FROM "{t["tablename"]}" t')
            out[t["tablename"]] = "\n".join(r["row"] for r in rows)
        return out
    finally:
        await conn.close()


def ari_send(settings: Settings, method: str, path: str) -> None:
    """An ARI request whose answer only has to be a success (POST, DELETE)."""
    req = urllib.request.Request(
        f"{settings.ari_base_url}{path}",
        method=method,
        headers=basic_auth(settings.ari_user, settings.require("ari_password")),
    )
    with urllib.request.urlopen(req, timeout=5):
        pass


def ari_delete(settings: Settings, path: str) -> None:
    ari_send(settings, "DELETE", path)


def ari_get(settings: Settings, path: str) -> Any:
    req = urllib.request.Request(
        f"{settings.ari_base_url}{path}",
        headers=basic_auth(settings.ari_user, settings.require("ari_password")),
    )
    with urllib.request.urlopen(req, timeout=5) as resp:
        return json.loads(resp.read() or b"null")


def wait_for(what: str, probe: Any, timeout: float = 10.0, step: float = 0.1) -> Any:
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = probe()
        if last:
            return last
        time.sleep(step)
    raise AssertionError(f"timed out waiting for {what} (last: {last!r})")


class Controller:
    """`linja serve` as a real subprocess, with its log in a file."""

    def __init__(
        self, settings: Settings, log_path: Path, *, env: dict[str, str] | None = None
    ) -> None:
        self.settings = settings
        self.log_path = log_path
        self.env = dict(env or {})  # extra LINJA_* variables for this controller
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        # Another controller answering on this port would pass the health check for this one
        # (which then dies on the spool lock): say so instead of testing the wrong process.
        if self._answers():
            raise AssertionError(f"a controller already serves {self.url('/')}: a leaked one?")
        env = {**os.environ, **self.env}
        self._log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "ivr.cli", "serve"],
            stdout=self._log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
            cwd=project_root(),
        )
        try:
            wait_for("controller health", self.healthy, timeout=60)
        except BaseException:
            self.kill()  # never leave a half-started controller to the next test
            raise

    def _answers(self) -> bool:
        try:
            with urllib.request.urlopen(self.url("/api/health"), timeout=1):
                return True
        except urllib.error.HTTPError:
            return True  # a 503: up, but not connected to ARI
        except (urllib.error.URLError, OSError):
            return False

    def healthy(self) -> bool:
        if self.proc is not None and self.proc.poll() is not None:
            raise AssertionError(f"controller exited {self.proc.returncode}:\n{self.log()}")
        try:
            with urllib.request.urlopen(self.url("/api/health"), timeout=1) as resp:
                return bool(resp.status == 200)
        except (urllib.error.URLError, OSError):
            return False

    def url(self, path: str) -> str:
        return f"http://{self.settings.bind}:{self.settings.http_port}{path}"

    def get(self, path: str) -> Any:
        with urllib.request.urlopen(self.url(path), timeout=5) as resp:
            return json.loads(resp.read())

    def stop(self) -> int | None:
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()
        code = self.proc.returncode
        self.proc = None
        return code

    def kill(self) -> int | None:
        """``kill -9``: no cleanup, leases and legs left behind (waits for it to be gone)."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        self._log.close()
        code = self.proc.returncode
        self.proc = None
        return code

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


def read_stamp(workdir: Path, name: str) -> float:
    """An epoch-seconds time written by a scenario's `date +%s.%N > <name>_<n>.ts`."""
    files = sorted(workdir.glob(f"{name}_*.ts"))
    assert files, f"no {name}_*.ts in {workdir}"
    return float(files[0].read_text().strip())


class AgentPhone:
    """An agent's phone: a SIPp UAS listening on a fresh port, registered as the agent's
    PJSIP endpoint (digest auth with the generated password)."""

    def __init__(
        self,
        settings: Settings,
        login: str,
        scenario: str,
        workdir: Path,
        *,
        talk_ms: int = 2000,
        calls: int = 1,
        timeout: int = 60,
    ) -> None:
        self.settings = settings
        self.login = login
        self.workdir = workdir / login
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.port = free_udp_port()
        self.password = json.loads((settings.state_dir / "agent-sip.json").read_text())[login]
        self.proc = subprocess.Popen(
            [
                "sipp",
                f"{settings.bind}:{settings.sip_port}",
                "-sf",
                str(SCENARIOS / scenario),
                "-s",
                login,
                "-i",
                "127.0.0.1",
                "-p",
                str(self.port),
                "-mp",
                str(free_media_port()),
                "-m",
                str(calls),
                "-d",
                str(talk_ms),
                "-timeout",
                f"{timeout}s",
                "-timeout_error",
                "-nostdin",
                "-trace_err",
                "-trace_msg",
            ],
            cwd=self.workdir,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            errors="replace",  # SIPp's screen may carry a packet's raw bytes
        )
        self.register(120)

    def register(self, expires: int) -> None:
        result = run_sipp(
            "agent-registers.xml",
            self.workdir / f"reg{expires}",
            service=self.login,
            settings=self.settings,
            timeout=15,
            extra=[
                "-au",
                self.login,
                "-ap",
                self.password,
                "-key",
                "contact_port",
                str(self.port),
                "-key",
                "expires",
                str(expires),
            ],
        )
        assert result.returncode == 0, result.output + result.errors

    def wait(self, timeout: float = 60) -> tuple[int, str]:
        out, _ = self.proc.communicate(timeout=timeout)
        return self.proc.returncode, out

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.register(0)


async def ensure_demo_admin(settings: Settings, login: str, password: str) -> None:
    """An `admin` user of the demo tenant with this login and password (created once)."""
    async with short_lived_sessions(settings, owner=True) as sessions:
        users = UserRepository(sessions)
        tenant = await TenantRepository(sessions).by_slug("demo")
        actor = Actor.system("tests")
        try:
            user = await users.by_login(login)
        except NotFound:
            user = await users.create(
                tenant_id=tenant.id,
                name=f"Test admin {login}",
                login=login,
                password=password,
                role=Role.ADMIN,
                actor=actor,
            )
        await users.set_password(user.id, password, actor)


def write_tone(
    path: Path, seconds: float, rate: int = 8000, *, hz: float = 440, amplitude: int = 8000
) -> Path:
    """A mono 16-bit wav holding a sine tone."""
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(
            b"".join(
                struct.pack("<h", int(amplitude * math.sin(2 * math.pi * hz * i / rate)))
                for i in range(int(seconds * rate))
            )
        )
    return path


def linja_here(
    *argv: str, stdin: str = "", env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """`linja argv` in this process, through :func:`ivr.cli.main`: the same parser and
    command functions as the installed command, without the 1.5 to 2 s of CPU a new Python
    process spends importing them (a test module making dozens of calls pays that in
    minutes under load). What the command prints goes to ``stdout``/``stderr`` (its log
    lines go to pytest's log capture instead); ``env`` is set in ``os.environ`` for the
    call (the command's ``Settings()`` reads it). For a command's behaviour as a process
    (exit status of the real executable), run it as one."""
    from ivr.cli import main

    out, err = io.StringIO(), io.StringIO()
    old = sys.stdout, sys.stderr, sys.stdin
    saved = dict(os.environ)
    os.environ.update(env or {})
    sys.stdout, sys.stderr, sys.stdin = out, err, io.StringIO(stdin)
    try:
        code = main(list(argv))
    except SystemExit as exc:  # argparse: --help (0) or a usage error (2)
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 2)
    finally:
        sys.stdout, sys.stderr, sys.stdin = old
        os.environ.clear()
        os.environ.update(saved)
    return subprocess.CompletedProcess(["linja", *argv], code, out.getvalue(), err.getvalue())
