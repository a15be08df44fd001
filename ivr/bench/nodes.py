"""``make bench-nodes``: the bulletin through one node, then through Kamailio and two nodes.

In one run, on the developer's stack (loopback only, bounded in calls and time), the same
bench numbers and audio as ``make bench-calls`` (:mod:`ivr.bench.rig`), the controller path
(``190``, as number 100) on each side:

1. **one node**: the developer's single stack, its controller;
2. **two nodes**: ``linja stack up --nodes 2`` of a state dir of its own
   (``<state dir>/bench-nodes``): Kamailio on the bind address at the SIP port + 2, the nodes
   on ``LINJA_NODE_ADDRESSES``, a controller per node, the one Postgres.

Per side: the highest zero-failure rate of 10 s bursts (the binary search of bench-calls),
and the concurrent listeners of the 20 s bulletin (``191``) before the first failure. For the
ceiling burst of each side, the CPU per call of every process (each node's controller and
Asterisk, Kamailio with its workers, SIPp) and the calls each node served: the figures
that tell what a node costs, hence what a machine of its own would carry. Then the ratios of
two nodes to one. On one 2-core machine no speed-up is expected: both nodes, Kamailio and
SIPp share the same two cores.

``LINJA_BENCH_QUICK=1``: short bursts, a coarse search, no concurrency run.
"""

from __future__ import annotations

import resource
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from ivr.bench import procstat
from ivr.bench.calls import Plan, ceiling, ratio
from ivr.bench.rig import LONG, LONG_S, SHORT, SHORT_S, ControllerProcess, Rig
from ivr.bench.sipp import timed_scenario
from ivr.bench.trial import HEADER, Listeners, Row, burst, format_row, listeners
from ivr.config import Settings
from ivr.stack import nodes
from ivr.stack.kamailio import KamailioServer

SIP_SHIFT = 2  # the front end's SIP port above the developer's (its Asterisk keeps its own)


def _children_cpu() -> float:
    """CPU of this process's finished children: the SIPp runs, once waited for."""
    use = resource.getrusage(resource.RUSAGE_CHILDREN)
    return use.ru_utime + use.ru_stime


@dataclass
class Side:
    """One configuration under test: what SIPp calls, the nodes behind it, their processes.
    A :class:`ivr.bench.trial.Target` and :class:`ivr.bench.trial.Sampled` for bursts."""

    name: str
    settings: Settings  # SIPp calls settings.bind:settings.sip_port
    rigs: list[Rig]
    controllers: list[ControllerProcess]
    front: KamailioServer | None = None
    snapshots: list[dict[str, float]] = field(default_factory=list)

    # -- Target --------------------------------------------------------------------------

    def channels(self) -> int:
        return sum(rig.channels() for rig in self.rigs)

    def channel_summary(self) -> str:
        return "; ".join(f"n{i}: {rig.channel_summary()}" for i, rig in enumerate(self.rigs))

    def hangup_all(self) -> None:
        for rig in self.rigs:
            rig.hangup_all()

    def asterisk_sample(self) -> procstat.Sample | None:
        samples = [s for s in (rig.asterisk_sample() for rig in self.rigs) if s is not None]
        if not samples:
            return None
        return procstat.Sample(sum(s.cpu_s for s in samples), sum(s.rss_mb for s in samples))

    # -- Sampled -------------------------------------------------------------------------

    def sample(self) -> procstat.Sample:
        """The controllers' CPU and RSS, summed; also records every process's CPU and the
        calls each node's Asterisk processed, for :meth:`breakdown`."""
        snap: dict[str, float] = {"sipp": _children_cpu()}
        if self.front is not None and (pid := self.front.running()) is not None:
            snap["kamailio"] = procstat.tree_sample(pid).cpu_s
        cpu = rss = 0.0
        for i, (rig, ctl) in enumerate(zip(self.rigs, self.controllers, strict=True)):
            s = ctl.sample()
            cpu, rss = cpu + s.cpu_s, rss + s.rss_mb
            snap[f"n{i} controller"] = s.cpu_s
            ast = rig.asterisk_sample()
            snap[f"n{i} asterisk"] = ast.cpu_s if ast is not None else 0.0
            snap[f"n{i} calls"] = float(rig.processed())
        self.snapshots.append(snap)
        return procstat.Sample(cpu, rss)

    def breakdown(self, ok: int) -> str:
        """Per process, ms of CPU per answered call between the last two samples (one
        burst's load), and the calls each node served."""
        if len(self.snapshots) < 2 or not ok:
            return "-"
        before, after = self.snapshots[-2], self.snapshots[-1]
        parts = []
        for i in range(len(self.rigs)):
            served = int(after[f"n{i} calls"] - before[f"n{i} calls"])
            ctl = (after[f"n{i} controller"] - before[f"n{i} controller"]) * 1000
            ast = (after[f"n{i} asterisk"] - before[f"n{i} asterisk"]) * 1000
            per = max(served, 1)
            parts.append(
                f"n{i}: {served} calls, controller {ctl / per:.2f}, asterisk {ast / per:.2f}"
            )
        for name in ("kamailio", "sipp"):
            if name in after and name in before:
                parts.append(f"{name} {(after[name] - before[name]) * 1000 / ok:.2f}")
        return "; ".join(parts) + " (ms CPU per call)"


@dataclass(frozen=True)
class Result:
    ceiling: float
    at_ceiling: Row | None
    breakdown: str
    held: Listeners | None
    held_cost: str  # the breakdown of the concurrency run: CPU per listener of LONG_S


def measure(side: Side, plan: Plan, scenario: Path, workdir: Path) -> Result:
    """The side's ceiling (printing each burst), then its concurrent listeners."""
    rows: list[Row] = []
    notes: dict[float, str] = {}

    def trial(rate: float) -> Row:
        row, _ = burst(
            side, side, scenario, workdir, path=side.name, service=SHORT, rate=rate,
            seconds=plan.seconds, call_timeout_s=SHORT_S + 10, settle_s=plan.settle,
        )  # fmt: skip
        notes[rate] = side.breakdown(row.ok)
        print(f"    {notes[rate]}", flush=True)
        return row

    top = ceiling(trial, plan, rows)
    at = next((r for r in rows if r.rate == top and r.passed), None)
    print(f"{side.name}: highest zero-failure rate {top:.0f} calls/s", flush=True)
    held, held_cost = None, "-"
    if plan.concurrency_calls:
        side.sample()
        held = listeners(
            side, scenario, workdir / f"concurrent-{side.name.replace(' ', '-')}",
            service=LONG, rate=plan.concurrency_rate, calls=plan.concurrency_calls,
            call_timeout_s=LONG_S + 10, settle_s=LONG_S + plan.settle,
        )  # fmt: skip
        side.sample()
        held_cost = side.breakdown(held.ok)
        print(f"{side.name}: {held.describe(LONG_S)}\n    {held_cost}", flush=True)
    return Result(top, at, notes.get(top, "-"), held, held_cost)


@contextmanager
def one_node(settings: Settings, workdir: Path) -> Iterator[Side]:
    rig = Rig(settings, workdir / "one")
    rig.workdir.mkdir()
    ctl = ControllerProcess(settings, workdir / "controller-one.log")
    with rig.dialplan():
        ctl.start()
        try:
            rig.bulletins()
            yield Side("1 node", settings, [rig], [ctl])
        finally:
            ctl.stop()


@contextmanager
def two_nodes(settings: Settings, workdir: Path) -> Iterator[Side]:
    """The developer's settings with a state dir of their own and the SIP port + 2 for the
    front end (as tests/integration/nodes does): up for the block, down after it."""
    base = nodes.beside(settings, "bench-nodes", SIP_SHIFT)
    count = 2
    node_settings = nodes.up(base, count)
    try:
        rigs = [Rig(n, workdir / f"n{i}") for i, n in enumerate(node_settings)]
        ctls = [
            ControllerProcess(
                n, workdir / f"controller-n{i}.log", env=nodes.node_env(base, i, count)
            )
            for i, n in enumerate(node_settings)
        ]
        with ExitStack() as stack:
            for rig in rigs:
                rig.workdir.mkdir()
                stack.enter_context(rig.dialplan())
            for ctl in ctls:
                ctl.start(wait=False)
                stack.callback(ctl.stop)
            for ctl in ctls:
                ctl.wait_healthy()
            for rig in rigs:
                rig.wait_fallbacks()
            yield Side(f"{count} nodes", base, rigs, ctls, nodes.kamailio(base, count))
    finally:
        nodes.down(base)


def main() -> None:
    plan = Plan.from_env()
    settings = Settings()
    workdir = Path(tempfile.mkdtemp(prefix="bench-nodes-"))
    scenario = timed_scenario(workdir)
    started = time.monotonic()
    results: dict[str, Result] = {}
    print(HEADER, flush=True)
    with one_node(settings, workdir) as side:
        results[side.name] = measure(side, plan, scenario, workdir)
    with two_nodes(settings, workdir) as side:
        results[side.name] = measure(side, plan, scenario, workdir)
    print()
    print(f"== bench-nodes ({time.monotonic() - started:.0f} s, logs in {workdir})")
    for name, res in results.items():
        held = f"{res.held.peak} concurrent listeners" if res.held else "no concurrency run"
        print(f"{name}: highest zero-failure rate {res.ceiling:.0f} calls/s, {held}")
        if res.at_ceiling is not None:
            print(f"    at {res.ceiling:.0f}/s: {format_row(res.at_ceiling)}")
            print(f"    {res.breakdown}")
        if res.held is not None:
            print(f"    {LONG_S:.0f} s listeners: {res.held_cost}")
    one, two = results["1 node"], results["2 nodes"]
    print(f"ceiling: two nodes / one: {ratio(two.ceiling, one.ceiling)}")
    if one.held and two.held:
        print(f"concurrent listeners: two nodes / one: {ratio(two.held.peak, one.held.peak)}")


if __name__ == "__main__":
    main()
