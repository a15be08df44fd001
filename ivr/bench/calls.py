"""``make bench-calls``: the bulletin through the controller against the pure dialplan.

In one run, on the developer's stack (loopback only, bounded in calls and time):

1. **ceiling**: for each path (``8190``: dialplan Answer + Playback + Hangup; ``190``: the
   controller's announcement flow, same audio), a binary search (RFC 7501 style) for the
   highest rate whose burst of ``seconds`` has zero failed calls and leaves no channel;
2. **beyond**: fixed-rate bursts at 0.8x, 1.5x and 2x of each path's own ceiling;
3. **concurrent listeners**: calls to a 20 s bulletin at a steady rate until the first
   failure, for both paths: the most calls up at once before it.

Per burst: calls ok / failed, p50 / p95 / p99 INVITE→200 (ms), channels left ``settle``
seconds after SIPp finished, the controller's CPU per answered call (from ``/proc/<pid>/stat``,
over the burst) and RSS, Asterisk's CPU per call; then the controller's figures as ratios to
the dialplan's, measured in the same run.

``LINJA_BENCH_QUICK=1``: short bursts, a coarse search, no 0.8x row and no concurrency run
(development). ``LINJA_BENCH_ONLY=controller`` (or ``dialplan``): one path.
``LINJA_BENCH_RATES=100,100,100``: instead of the search and its multiples, bursts at those
rates (of ``LINJA_BENCH_SECONDS``, default 10 s) and the median CPU per call over them:
the figure to compare code changes by on a shared machine.
"""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from statistics import median

from ivr.bench.rig import BASELINE_PREFIX, LONG, LONG_S, SHORT, SHORT_S, ControllerProcess, Rig
from ivr.bench.sipp import timed_scenario
from ivr.bench.trial import HEADER, Row, burst, format_row, listeners
from ivr.config import Settings


@dataclass(frozen=True)
class Plan:
    seconds: float = 10.0
    settle: float = 10.0
    low: float = 25.0
    high: float = 600.0
    resolution: float = 25.0
    multiples: tuple[float, ...] = (0.8, 1.5, 2.0)
    # 80 calls/s of a 20 s bulletin for 50 s: up to 1600 listeners at once, beyond what this
    # 2-core box held (about 900 to 1000), so the run ends past the first failure.
    concurrency_rate: float = 80.0
    concurrency_calls: int = 4000
    rates: tuple[float, ...] = ()  # fixed-rate bursts instead of the search (LINJA_BENCH_RATES)

    @classmethod
    def from_env(cls) -> Plan:
        plan = cls()
        if os.environ.get("LINJA_BENCH_QUICK"):
            plan = cls(
                seconds=3.0, settle=3.0, high=600.0, resolution=50.0, multiples=(1.5, 2.0),
                concurrency_calls=0,
            )  # fmt: skip
        rates = os.environ.get("LINJA_BENCH_RATES", "").strip()
        if rates:
            seconds = float(os.environ.get("LINJA_BENCH_SECONDS", "10"))
            plan = replace(
                plan, rates=tuple(float(r) for r in rates.split(",")), seconds=seconds,
                multiples=(), concurrency_calls=0,
            )  # fmt: skip
        return plan


def ceiling(trial: Callable[[float], Row], plan: Plan, rows: list[Row]) -> float:
    """The highest rate (within ``plan.resolution``) whose burst passed; 0 if none did."""
    good, bad = 0.0, plan.high
    rate = (plan.low + plan.high) / 2
    while bad - good > plan.resolution:
        row = trial(rate)
        rows.append(row)
        print(format_row(row), flush=True)
        if row.passed:
            good = rate
        else:
            bad = rate
        rate = round((good + bad) / 2 / 5) * 5 or plan.low
    return good


def fixed_rate(trial: Callable[[float], Row], plan: Plan, rows: list[Row]) -> None:
    """One burst at each of ``plan.rates``."""
    for rate in plan.rates:
        row = trial(rate)
        rows.append(row)
        print(format_row(row), flush=True)


def summary(rows: list[Row]) -> str:
    """The median CPU per call (gross and net of idle) over fixed-rate bursts."""
    gross = [r.ctl_ms_per_call for r in rows if r.ctl_ms_per_call is not None]
    net = [r.ctl_net_ms_per_call for r in rows if r.ctl_net_ms_per_call is not None]
    if not gross or not net:
        return "no controller CPU figures"
    return (
        f"median controller CPU per call {median(gross):.2f} ms (net {median(net):.2f} ms) "
        f"over {len(rows)} bursts; failed {sum(r.failed for r in rows)}, "
        f"channels left {sum(r.left for r in rows)}"
    )


def ratio(a: float | None, b: float | None) -> str:
    if a is None or b is None or b == 0:
        return "-"
    return f"{a / b:.2f}x"


def main() -> None:
    plan = Plan.from_env()
    only = os.environ.get("LINJA_BENCH_ONLY", "")
    settings = Settings()
    workdir = Path(tempfile.mkdtemp(prefix="bench-calls-"))
    rig = Rig(settings, workdir)
    ctl = ControllerProcess(settings, workdir / "controller.log")
    scenario = timed_scenario(workdir)
    call_timeout = SHORT_S + 10
    started = time.monotonic()
    with rig.dialplan():
        ctl.start()
        try:
            rig.bulletins()
            idle0 = ctl.sample()
            time.sleep(5)
            idle = (ctl.sample().cpu_s - idle0.cpu_s) / 5
            print(f"controller pid {ctl.pid}, idle CPU {idle * 1000:.1f} ms/s", flush=True)
            paths = {"dialplan": BASELINE_PREFIX + SHORT, "controller": SHORT}
            if only:
                paths = {only: paths[only]}
            rows: dict[str, list[Row]] = {p: [] for p in paths}
            ceilings: dict[str, float] = {}
            fixed: dict[tuple[str, float], Row] = {}
            print(HEADER, flush=True)
            for path, service in paths.items():

                def trial(rate: float, path: str = path, service: str = service) -> Row:
                    row, _ = burst(
                        rig, ctl, scenario, workdir, path=path, service=service, rate=rate,
                        seconds=plan.seconds, call_timeout_s=call_timeout, settle_s=plan.settle,
                        idle_cpu_per_s=idle,
                    )  # fmt: skip
                    return row

                if plan.rates:
                    fixed_rate(trial, plan, rows[path])
                    continue
                ceilings[path] = ceiling(trial, plan, rows[path])
                print(f"{path}: highest zero-failure rate {ceilings[path]:.0f} calls/s", flush=True)
                for m in plan.multiples:
                    row = trial(max(plan.low, ceilings[path] * m))
                    fixed[(path, m)] = row
                    rows[path].append(row)
                    print(f"{format_row(row)}   ({m:g}x ceiling)", flush=True)
            concurrent = {}
            if plan.concurrency_calls:
                for path, service in (("dialplan", BASELINE_PREFIX + LONG), ("controller", LONG)):
                    if only and path != only:
                        continue
                    held = listeners(
                        rig, scenario, workdir / f"concurrent-{path}", service=service,
                        rate=plan.concurrency_rate, calls=plan.concurrency_calls,
                        call_timeout_s=LONG_S + 10, settle_s=LONG_S + plan.settle,
                    )  # fmt: skip
                    concurrent[path] = held.peak
                    print(f"{path}: {held.describe(LONG_S)}", flush=True)
        finally:
            ctl.stop()
    print()
    print(f"== bench-calls ({time.monotonic() - started:.0f} s, idle controller "
          f"{idle * 1000:.1f} ms/s, logs in {workdir})")  # fmt: skip
    print(HEADER)
    for path in paths:
        for row in sorted(rows[path], key=lambda r: r.rate):
            print(format_row(row))
    if plan.rates:
        for path in paths:
            print(f"{path}: {summary(rows[path])}")
    elif len(paths) == 2:
        d, c = ceilings["dialplan"], ceilings["controller"]
        print(f"ceiling: dialplan {d:.0f}/s, controller {c:.0f}/s, ratio {ratio(c, d)}")
        for m in plan.multiples:
            dr, cr = fixed[("dialplan", m)], fixed[("controller", m)]
            print(
                f"{m:g}x ceiling: failed {cr.failed} vs {dr.failed} ({ratio(cr.failed, dr.failed)})"
                f", p99 {ratio(cr.p99, dr.p99)}, channels left {cr.left} vs {dr.left}"
            )
        if concurrent:
            cc, dc = concurrent.get("controller"), concurrent.get("dialplan")
            print(f"concurrent listeners: controller {cc} vs dialplan {dc} ({ratio(cc, dc)})")


if __name__ == "__main__":
    main()
