"""``make bench-faults``: bulletin calls at a steady rate while something fails.

Three runs of ``LINJA_FAULTS_RATE`` (default 100) calls/s for ``LINJA_FAULTS_SECONDS``
(default 30) to the bench number 190, each with one fault ``FAULT_AT`` seconds in:

- ``kill -9`` of the controller, restarted 6 s later;
- an Asterisk restart (stop, start);
- a Postgres restart (stop, 5 s, start).

Each prints: calls ok / failed, callers who heard silence (no RTP for more than 2 s between
the answer and the BYE, measured by an RTP listener of ours that every caller's SDP names,
:mod:`ivr.bench.rtp`), channels left 10 s after the load, and records lost: bulletin calls
the controller finished (its log) that its call counters never stored.
"""

from __future__ import annotations

import asyncio
import os
import re
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ivr.bench.rig import SHORT, ControllerProcess, Rig
from ivr.bench.rtp import RtpListener, silent_callers
from ivr.bench.sipp import LoadResult, run_load, timed_scenario
from ivr.config import Settings
from ivr.stack.postgres import PgCluster
from storage.db import make_engine, session_factory
from storage.repositories.bulletins import CounterRepository

FAULT_AT = 8.0
# How long a caller waits for the next thing to happen (SIPp's -recv_timeout) before giving
# up: long enough for a restarted controller to adopt the calls it left.
CALLER_PATIENCE_S = 40.0
# Bulletin calls the controller served: played through ARI to their end ("[<channel>] bulletin
# finished"), or handed to their fallback file (counted at their start; the fast path logs the
# channels of a second in one line, "[<channel>,<channel>,...] playing ... from its fallback
# file"). Every one of them is in its call counters.
_FINISHED = re.compile(
    r"\[([\w.,-]+)\] (?:bulletin finished|playing \d+ item\(s\) on \S+ .* from its fallback file)"
)


@dataclass(frozen=True)
class FaultRow:
    fault: str
    ok: int
    failed: int
    answered: int
    silent: int
    left: int
    lost: int

    def line(self) -> str:
        return (
            f"{self.fault:<22} {self.ok:>6} {self.failed:>6} {self.silent:>6}/{self.answered:<6}"
            f" {self.left:>5} {self.lost:>6}"
        )


HEADER = f"{'fault':<22} {'ok':>6} {'failed':>6} {'silent/answered':>13} {'left':>5} {'lost':>6}"


async def _counted(settings: Settings) -> int:
    engine = make_engine(settings, pool_size=1)
    try:
        return sum((await CounterRepository(session_factory(engine)).totals(SHORT)).values())
    finally:
        await engine.dispose()


def counted(settings: Settings) -> int:
    return asyncio.run(_counted(settings))


def finished(ctl: ControllerProcess) -> int:
    text = ctl.log_path.read_text(errors="replace")
    return sum(len(m.split(",")) for m in _FINISHED.findall(text))


def settled_count(settings: Settings, want: int, timeout: float = 30) -> int:
    """The stored count once it reaches ``want`` or stops moving (counters flush in batches;
    a restarted Postgres first needs the controller to reconnect)."""
    deadline = time.monotonic() + timeout
    last, same = -1, 0
    while time.monotonic() < deadline:
        try:
            now = counted(settings)
        except Exception:  # Postgres may still be starting
            time.sleep(1)
            continue
        if now >= want:
            return now
        same = same + 1 if now == last else 0
        if same >= 5:
            return now
        last = now
        time.sleep(1)
    return last


def run_fault(
    rig: Rig, ctl: ControllerProcess, name: str, fault: Callable[[], None], *,
    rate: float, seconds: float, workdir: Path,
) -> FaultRow:  # fmt: skip
    listener = RtpListener()
    listener.start()
    scenario = timed_scenario(workdir, rtp_port=listener.port)
    before_counted, before_finished = counted(rig.settings), finished(ctl)
    box: dict[str, LoadResult] = {}
    started = time.monotonic()

    def load() -> None:
        box["r"] = run_load(
            rig.settings, scenario, workdir / name, service=SHORT, rate=rate,
            calls=int(rate * seconds), call_timeout_s=CALLER_PATIENCE_S,
        )  # fmt: skip

    thread = threading.Thread(target=load)
    thread.start()
    time.sleep(FAULT_AT)
    fault()
    thread.join()
    listener.stop()
    result = box["r"]
    time.sleep(10)
    left = rig.channels()
    if left:
        rig.hangup_all()
    done = finished(ctl) - before_finished
    stored = settled_count(rig.settings, before_counted + done) - before_counted
    silence = silent_callers(result.logs, listener.arrivals, started)
    return FaultRow(
        name, result.ok, result.failed, silence.answered, silence.silent, left,
        max(0, done - stored),
    )  # fmt: skip


def main() -> None:
    rate = float(os.environ.get("LINJA_FAULTS_RATE", "100"))
    seconds = float(os.environ.get("LINJA_FAULTS_SECONDS", "30"))
    settings = Settings()
    workdir = Path(tempfile.mkdtemp(prefix="bench-faults-"))
    rig = Rig(settings, workdir)
    ctl = ControllerProcess(settings, workdir / "controller.log")
    pg = PgCluster(settings)

    def kill9() -> None:
        ctl.kill9()
        time.sleep(6)
        ctl.start()

    def restart_asterisk() -> None:
        rig.asterisk.stop()
        rig.asterisk.start()

    def restart_postgres() -> None:
        pg.stop()
        time.sleep(5)
        pg.start()

    faults = {
        "kill -9 controller": kill9,
        "restart Asterisk": restart_asterisk,
        "restart Postgres": restart_postgres,
    }
    only = os.environ.get("LINJA_FAULTS_ONLY")
    rows = []
    with rig.dialplan():
        ctl.start()
        try:
            rig.bulletins()
            print(f"{rate:g} calls/s for {seconds:g} s, fault at {FAULT_AT:g} s", flush=True)
            print(HEADER, flush=True)
            for name, fault in faults.items():
                if only and only not in name:
                    continue
                row = run_fault(rig, ctl, name, fault, rate=rate, seconds=seconds, workdir=workdir)
                rows.append(row)
                print(row.line(), flush=True)
                time.sleep(3)
        finally:
            ctl.stop()
    print(f"logs in {workdir}")


if __name__ == "__main__":
    main()
