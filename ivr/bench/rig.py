"""The bench's fixtures on the developer's stack: numbers, audio, dialplan, controller.

Two bench numbers of the demo tenant carry a bulletin of generated audio (a tone): ``190``
(``SHORT_S`` long, the burst tests) and ``191`` (``LONG_S``, the concurrent-listener test).
A bench-only dialplan file, installed next to the shipped one for the run and removed
afterwards, routes them into the controller like number 100, with its ``shed`` label
(``LINJA_BENCH_ANSWER=dialplan``: answered by the dialplan first), and routes ``8190`` / ``8191``
to the pure-dialplan baseline: Answer, Playback of the same pre-rendered file the fallback
plays, Hangup.
"""

from __future__ import annotations

import logging
import math
import os
import shutil
import struct
import subprocess
import sys
import time
import urllib.request
import wave
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from ivr.audio import wav_duration
from ivr.bench import procstat
from ivr.bulletins.direct import PREFIX
from ivr.config import Settings, project_root
from ivr.stack.asterisk import AsteriskServer
from ivr.stack.proc import read_pid

log = logging.getLogger(__name__)

SHORT, LONG = "190", "191"
SHORT_S, LONG_S = 1.3, 20.0
BASELINE_PREFIX = "8"  # 8190 plays 190's file from the dialplan alone

BENCH_DIALPLAN = """; Bench only (ivr/bench/rig.py): installed for a bench run, removed after it.
[linja-inbound]
{routes}
"""
ROUTE = """exten => {n},1,GotoIf($[${{EPOCH}} < 0${{CUT(GLOBAL(LINJA_DIRECT_${{EXTEN}}),:,1)}} \
& ${{STAT(e,/var/lib/linja/fallback/${{EXTEN}}.wav)}}]?linja-fallback,${{EXTEN}},direct)
 same => n,{answer}
 same => n,Stasis(linja,announcement,demo)
 same => n,GotoIf($["${{STASISSTATUS}}" = "FAILED"]?linja-fallback,${{EXTEN}},1)
 same => n,Hangup()
 same => n(shed),Goto(linja-fallback,${{EXTEN}},1)
exten => {b}{n},1,Answer()
 same => n,Playback(/var/lib/linja/fallback/{n})
 same => n,Hangup()"""


def tone_wav(path: Path, seconds: float) -> Path:
    """8 kHz mono 16-bit: a 440 Hz tone (audio that is never silent)."""
    frames = int(seconds * 8000)
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(
            b"".join(
                struct.pack("<h", int(8000 * math.sin(2 * math.pi * 440 * i / 8000)))
                for i in range(frames)
            )
        )
    return path


def linja(*args: str) -> str:
    proc = subprocess.run(
        [sys.executable, "-m", "ivr.cli", *args],
        capture_output=True, text=True, check=False, cwd=project_root(),
    )  # fmt: skip
    if proc.returncode != 0:
        raise SystemExit(f"linja {' '.join(args)} failed:\n{proc.stdout}{proc.stderr}")
    return proc.stdout


class Rig:
    def __init__(self, settings: Settings, workdir: Path) -> None:
        self.settings = settings
        self.workdir = workdir
        self.asterisk = AsteriskServer(settings)

    # -- dialplan ------------------------------------------------------------------------

    @contextmanager
    def dialplan(self) -> Iterator[None]:
        """The shipped dialplan plus the bench routes, for the duration of the block."""
        source = self.workdir / "dialplan"
        source.mkdir(exist_ok=True)
        for conf in (project_root() / "dialplan").glob("*.conf"):
            shutil.copy(conf, source / conf.name)
        # As number 100: the controller answers. LINJA_BENCH_ANSWER=dialplan: the dialplan
        # answers before Stasis (one ARI request less a call, but an answered caller waits in
        # silence for a slow controller: see the bench-faults figures).
        answer = "Answer()" if os.environ.get("LINJA_BENCH_ANSWER") == "dialplan" else "NoOp()"
        routes = "\n".join(
            ROUTE.format(n=n, b=BASELINE_PREFIX, answer=answer) for n in (SHORT, LONG)
        )
        (source / "zz-bench.conf").write_text(BENCH_DIALPLAN.format(routes=routes))
        self.asterisk.install_dialplan(source=source)
        self.asterisk.cli("dialplan reload")
        try:
            yield
        finally:
            self.asterisk.install_dialplan()
            self.asterisk.cli("dialplan reload")

    # -- numbers and bulletins -----------------------------------------------------------

    def bulletins(self) -> None:
        """Bench numbers with one bulletin each, and their fallback files rendered (the
        controller renders them: call with it running)."""
        # The bench numbers are the demo tenant's: seeded on a new stack (idempotent; a demo
        # admin it creates has its password shown here, once).
        print(linja("demo", "seed").strip(), flush=True)
        listed = linja("number", "list")
        for number, seconds in ((SHORT, SHORT_S), (LONG, LONG_S)):
            if not any(line.split()[:1] == [number] for line in listed.splitlines()):
                linja(
                    "number", "add", number, "--tenant", "demo", "--service", "bulletin",
                    "--dialplan-dir", str(self.workdir / "dialplan"),
                )  # fmt: skip
            linja("bulletin", "clear", "--number", number)
            audio = tone_wav(self.workdir / f"tone-{number}.wav", seconds)
            linja("bulletin", "set", "--number", number, "--audio", str(audio), "--for", "1d")
        self.wait_fallbacks()

    def wait_fallbacks(self, timeout: float = 30) -> None:
        """Until this Asterisk's fallback files of the bench numbers hold their bulletins
        (its controller renders them) and, unless LINJA_BULLETIN_DIRECT is off, the dialplan
        serves them alone (ivr/bulletins/direct.py)."""
        deadline = time.monotonic() + timeout
        while not all(self._fallback_ok(n, s) for n, s in ((SHORT, SHORT_S), (LONG, LONG_S))) or (
            self.settings.bulletin_direct and not self._direct_ok()
        ):
            if time.monotonic() > deadline:
                raise SystemExit(
                    f"the controller of {self.settings.bind} did not render the bench "
                    "fallback files"
                )
            time.sleep(0.3)

    def _direct_ok(self) -> bool:
        """Whether both bench numbers' direct-route globals have a value."""
        shown = self.asterisk.cli("dialplan show globals")
        return all(f"{PREFIX}{n}=" in shown and f"{PREFIX}{n}=\n" not in shown
                   for n in (SHORT, LONG))  # fmt: skip

    def _fallback_ok(self, number: str, seconds: float) -> bool:
        path = self.settings.in_root(self.settings.fallback_inner) / f"{number}.wav"
        try:
            return abs(wav_duration(path.read_bytes()) - seconds) < 0.1
        except (OSError, EOFError, wave.Error):
            return False

    # -- Asterisk ------------------------------------------------------------------------

    def channels(self) -> int:
        return self._count("active channel")

    def processed(self) -> int:
        """Calls this Asterisk has processed since it started."""
        return self._count("processed")

    def _count(self, what: str) -> int:
        """The figure of the ``core show channels count`` line naming ``what``."""
        out = self.asterisk.cli("core show channels count")
        for line in out.splitlines():
            if what in line:
                return int(line.split()[0])
        return 0

    def channel_summary(self, most: int = 5) -> str:
        """Where the channels are: the commonest (context, state, application) of
        ``core show channels concise``, with their counts."""
        seen: Counter[tuple[str, ...]] = Counter()
        for line in self.asterisk.cli("core show channels concise").splitlines():
            fields = line.split("!")
            if len(fields) >= 6:
                seen[(fields[1], fields[4], fields[5])] += 1
        return ", ".join(f"{n} in {'/'.join(k)}" for k, n in seen.most_common(most))

    def hangup_all(self) -> None:
        self.asterisk.cli("channel request hangup all")

    def asterisk_pid(self) -> int | None:
        return read_pid(self.asterisk.pidfile)

    def asterisk_sample(self) -> procstat.Sample | None:
        pid = self.asterisk_pid()
        return procstat.sample(pid) if pid else None


class ControllerProcess:
    """`linja serve` as a subprocess, its log in ``log_path``."""

    def __init__(self, settings: Settings, log_path: Path, env: dict[str, str] | None = None):
        self.settings = settings
        self.log_path = log_path
        self.env = {**os.environ, **(env or {})}
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def start(self, *, wait: bool = True) -> None:
        profile = self.env.get("LINJA_BENCH_PROFILE")  # cProfile output of the controller
        prefix = ["-m", "cProfile", "-o", profile] if profile else []
        with self.log_path.open("ab") as out:
            self.proc = subprocess.Popen(
                [sys.executable, *prefix, "-m", "ivr.cli", "serve"],
                stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                env=self.env, cwd=project_root(),
            )  # fmt: skip
        if wait:
            self.wait_healthy()

    def wait_healthy(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while not self.healthy():
            if self.proc is None or self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()  # not healthy in time: not left running behind the bench
                raise SystemExit(f"controller did not start; see {self.log_path}")
            time.sleep(0.2)

    def healthy(self) -> bool:
        url = f"http://{self.settings.bind}:{self.settings.http_port}/api/health"
        try:
            with urllib.request.urlopen(url, timeout=1) as r:
                return bool(r.status == 200)
        except OSError:
            return False

    def sample(self) -> procstat.Sample:
        return procstat.sample(self.pid)

    def kill9(self) -> None:
        assert self.proc is not None
        self.proc.kill()
        self.proc.wait()

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
