"""One SIPp caller load against Asterisk, and what it measured.

The scenario is the project's ``caller-hears-bulletin.xml`` with SIPp's response-time timer 1
moved to run from the INVITE to its 200 OK, so ``-trace_rtt`` gives each answered call's
INVITE→200 time. Counts come from SIPp's statistics file (``-trace_stat``, one row a second):
its last row has the totals, and its rows before the first failure give the most calls SIPp
held up at once without one (the concurrent-listener figure).
"""

from __future__ import annotations

import csv
import socket
import statistics
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ivr.config import Settings, project_root

BULLETIN_CALLER = project_root() / "sipp-scenarios" / "caller-hears-bulletin.xml"


def free_udp_port() -> int:
    """A fresh local port per SIPp run (Asterisk keeps retransmitting to abandoned ones)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def free_media_port() -> int:
    """An even port with the next three free too (SIPp binds several from ``-mp``)."""
    for _ in range(100):
        base = free_udp_port() & ~1
        socks: list[socket.socket] = []
        try:
            for off in range(4):
                s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                socks.append(s)
                s.bind(("127.0.0.1", base + off))
        except OSError:
            continue
        finally:
            for s in socks:
                s.close()
        return base
    raise RuntimeError("no free media port block")


def timed_scenario(workdir: Path, *, rtp_port: int | None = None) -> Path:
    """caller-hears-bulletin.xml with timer 1 = INVITE→200.

    ``rtp_port``: the SDP offers this port (a listener of ours, see :mod:`ivr.bench.rtp`)
    instead of SIPp's own, and each call logs Asterisk's RTP port with the answer and BYE
    times (``-trace_logs``), so the listener's packets can be matched to calls.
    """
    text = BULLETIN_CALLER.read_text()
    text = text.replace('<send retrans="500">', '<send retrans="500" start_rtd="1">', 1)
    text = text.replace(
        '<recv response="200" rrs="true" start_rtd="1"/>',
        '<recv response="200" rrs="true" rtd="1"/>',
    )
    text = text.replace('<recv request="BYE" rtd="1"/>', '<recv request="BYE"/>')
    if rtp_port is not None:
        text = text.replace("m=audio [media_port]", f"m=audio {rtp_port}")
        text = text.replace(
            '<recv response="200" rrs="true" rtd="1"/>',
            '<recv response="200" rrs="true" rtd="1"><action>'
            '<ereg regexp="m=audio ([0-9]+)" search_in="body" check_it="true" '
            'assign_to="sdp,astport"/>'
            '<log message="answer [$astport] [clock_tick] [$sdp]"/></action></recv>',
        )
        text = text.replace(
            '<recv request="BYE"/>',
            '<recv request="BYE"><action><log message="bye [$astport] [clock_tick]"/>'
            "</action></recv>",
        )
    path = workdir / ("bench-caller-rtp.xml" if rtp_port else "bench-caller.xml")
    path.write_text(text)
    return path


@dataclass
class LoadResult:
    ok: int = 0
    failed: int = 0
    invite_to_200_ms: list[float] = field(default_factory=list)
    peak_before_failure: int = 0  # most calls up at once before the first failure
    logs: list[str] = field(default_factory=list)  # -trace_logs lines (with rtp_port)
    returncode: int = 0

    def percentile(self, q: float) -> float | None:
        data = sorted(self.invite_to_200_ms)
        if not data:
            return None
        if len(data) == 1:
            return data[0]
        return statistics.quantiles(data, n=100, method="inclusive")[int(q) - 1]


def run_load(
    settings: Settings,
    scenario: Path,
    workdir: Path,
    *,
    service: str,
    rate: float,
    calls: int,
    call_timeout_s: float,
    limit: int = 20000,
    extra: Sequence[str] = (),
) -> LoadResult:
    """``calls`` calls to ``service`` at ``rate`` calls/s; a call that waits more than
    ``call_timeout_s`` for any message fails. Blocks until SIPp is done."""
    workdir.mkdir(parents=True, exist_ok=True)
    seconds = calls / rate
    cmd = [
        "sipp", f"{settings.bind}:{settings.sip_port}", "-sf", str(scenario), "-s", service,
        "-i", "127.0.0.1", "-p", str(free_udp_port()), "-mp", str(free_media_port()),
        "-m", str(calls), "-r", f"{rate:g}", "-l", str(limit),
        "-recv_timeout", str(int(call_timeout_s * 1000)),
        "-timeout", f"{int(seconds + call_timeout_s + 30)}s", "-timeout_error",
        "-nostdin", "-trace_rtt", "-rtt_freq", "1", "-trace_stat", "-fd", "1",
        "-stf", "stat.csv", "-trace_logs", "-log_file", "calls.log",
        "-max_socket", "60000", *extra,
    ]  # fmt: skip
    proc = subprocess.run(
        cmd, cwd=workdir, capture_output=True, text=True, check=False,
        timeout=seconds + call_timeout_s + 60,
    )  # fmt: skip
    result = LoadResult(returncode=proc.returncode)
    for rtt in workdir.glob("*_rtt.csv"):
        for line in rtt.read_text().splitlines()[1:]:
            parts = line.split(";")
            if len(parts) >= 2 and parts[1]:
                result.invite_to_200_ms.append(float(parts[1]))
        rtt.unlink()
    _read_stats(workdir / "stat.csv", result)
    log = workdir / "calls.log"
    if log.exists():
        result.logs = log.read_text().splitlines()
        log.unlink()
    return result


def _read_stats(path: Path, result: LoadResult) -> None:
    if not path.exists():
        raise RuntimeError(f"SIPp wrote no statistics ({path})")
    with path.open() as f:
        rows = list(csv.DictReader(f, delimiter=";"))
    path.unlink()
    if not rows:
        return
    last = rows[-1]
    result.ok = int(last["SuccessfulCall(C)"])
    result.failed = int(last["FailedCall(C)"])
    for row in rows:
        if int(row["FailedCall(C)"]) > 0:
            break
        result.peak_before_failure = max(result.peak_before_failure, int(row["CurrentCall"]))
