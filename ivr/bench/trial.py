"""One burst of calls against one path, with the figures of its table row."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from ivr.bench import procstat
from ivr.bench.sipp import LoadResult, run_load
from ivr.config import Settings


class Target(Protocol):
    """What a burst calls (SIPp sends to ``settings.bind``:``settings.sip_port``) and
    counts: one Asterisk (:class:`ivr.bench.rig.Rig`) or the nodes behind Kamailio."""

    settings: Settings

    def channels(self) -> int: ...
    def channel_summary(self) -> str: ...
    def hangup_all(self) -> None: ...
    def asterisk_sample(self) -> procstat.Sample | None: ...


class Sampled(Protocol):
    """A controller (or the controllers of several nodes) whose CPU a burst measures."""

    def sample(self) -> procstat.Sample: ...


@dataclass(frozen=True)
class Row:
    path: str  # "dialplan" or "controller"
    rate: float
    ok: int
    failed: int
    p50: float | None
    p95: float | None
    p99: float | None
    left: int  # channels left ``settle_s`` after SIPp finished
    ctl_cpu_s: float | None
    ctl_rss_mb: float | None
    ast_cpu_s: float | None
    seconds: float
    idle_cpu_s: float = 0.0  # what the idle controller would have spent in ``seconds``

    @property
    def passed(self) -> bool:
        return self.failed == 0 and self.left == 0

    @property
    def ctl_ms_per_call(self) -> float | None:
        if self.ctl_cpu_s is None or not self.ok:
            return None
        return self.ctl_cpu_s * 1000 / self.ok

    @property
    def ctl_net_ms_per_call(self) -> float | None:
        """CPU per call less the idle controller's background work over the burst."""
        if self.ctl_cpu_s is None or not self.ok:
            return None
        return max(0.0, self.ctl_cpu_s - self.idle_cpu_s) * 1000 / self.ok

    @property
    def ast_ms_per_call(self) -> float | None:
        if self.ast_cpu_s is None or not self.ok:
            return None
        return self.ast_cpu_s * 1000 / self.ok


HEADER = (
    f"{'path':<10} {'calls/s':>7} {'ok':>6} {'failed':>6} {'p50':>6} {'p95':>6} {'p99':>7} "
    f"{'left':>4} {'ctl ms/call':>11} {'net':>5} {'ctl RSS MB':>10} {'ast ms/call':>11}"
)


def _ms(v: float | None, width: int) -> str:
    return f"{'-':>{width}}" if v is None else f"{v:>{width}.0f}"


def _f(v: float | None, width: int, digits: int = 2) -> str:
    return f"{'-':>{width}}" if v is None else f"{v:>{width}.{digits}f}"


def format_row(row: Row) -> str:
    return (
        f"{row.path:<10} {row.rate:>7.0f} {row.ok:>6} {row.failed:>6} {_ms(row.p50, 6)} "
        f"{_ms(row.p95, 6)} {_ms(row.p99, 7)} {row.left:>4} {_f(row.ctl_ms_per_call, 11)} "
        f"{_f(row.ctl_net_ms_per_call, 5)} "
        f"{_f(row.ctl_rss_mb, 10, 0)} {_f(row.ast_ms_per_call, 11)}"
    )


def burst(
    rig: Target,
    controller: Sampled | None,
    scenario: Path,
    workdir: Path,
    *,
    path: str,
    service: str,
    rate: float,
    seconds: float,
    call_timeout_s: float,
    settle_s: float,
    idle_cpu_per_s: float = 0.0,
) -> tuple[Row, LoadResult]:
    """``rate`` calls/s for ``seconds`` to ``service``; channels counted ``settle_s`` after
    SIPp is done, then any left are hung up so the next burst starts clean."""
    calls = max(1, round(rate * seconds))
    ctl0 = controller.sample() if controller else None
    ast0 = rig.asterisk_sample()
    started = time.monotonic()
    result = run_load(
        rig.settings, scenario, workdir / f"{path}-{rate:g}-{int(started)}",
        service=service, rate=rate, calls=calls, call_timeout_s=call_timeout_s,
    )  # fmt: skip
    elapsed = time.monotonic() - started
    ctl1 = controller.sample() if controller else None
    ast1 = rig.asterisk_sample()
    time.sleep(settle_s)
    left = rig.channels()
    if left:
        print(f"  {path} at {rate:g}/s: {left} channels left: {rig.channel_summary()}", flush=True)
        rig.hangup_all()
        time.sleep(1)
    row = Row(
        path=path, rate=rate, ok=result.ok, failed=result.failed,
        p50=result.percentile(50), p95=result.percentile(95), p99=result.percentile(99),
        left=left,
        ctl_cpu_s=None if ctl0 is None or ctl1 is None else ctl1.cpu_s - ctl0.cpu_s,
        ctl_rss_mb=None if ctl1 is None else ctl1.rss_mb,
        ast_cpu_s=None if ast0 is None or ast1 is None else ast1.cpu_s - ast0.cpu_s,
        seconds=elapsed, idle_cpu_s=idle_cpu_per_s * elapsed,
    )  # fmt: skip
    return row, result


@dataclass(frozen=True)
class Listeners:
    peak: int  # most calls up at once before the first failure
    ok: int
    failed: int
    left: int  # channels left ``settle_s`` after SIPp finished (callers that gave up may
    # leave a channel playing the rest of its bulletin: settle at least that long)

    def describe(self, bulletin_s: float) -> str:
        what = f"{self.peak} concurrent listeners of a {bulletin_s:.0f} s bulletin"
        counts = f"{self.ok} ok, {self.failed} failed, {self.left} channels left"
        if not self.failed:  # the run's most, not the limit
            return f"{what} and no failure, so at least that many ({counts})"
        return f"{what} before the first failure ({counts})"


def listeners(
    rig: Target,
    scenario: Path,
    workdir: Path,
    *,
    service: str,
    rate: float,
    calls: int,
    call_timeout_s: float,
    settle_s: float,
) -> Listeners:
    """Calls to a long bulletin at a steady ``rate`` until ``calls`` were placed: how many
    listeners it held at once before the first failure."""
    result = run_load(
        rig.settings, scenario, workdir, service=service, rate=rate, calls=calls,
        call_timeout_s=call_timeout_s,
    )  # fmt: skip
    time.sleep(settle_s)
    left = rig.channels()
    if left:
        rig.hangup_all()
        time.sleep(1)
    return Listeners(result.peak_before_failure, result.ok, result.failed, left)
