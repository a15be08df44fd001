"""SIPp callers through the two-node stack's front end, and what each node's ARI says."""

from __future__ import annotations

import subprocess
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from ivr.config import Settings
from tests.support import (
    SCENARIOS,
    ari_get,
    ari_send,
    free_media_port,
    free_udp_port,
    wait_for,
)

SCENARIO = "caller-listens-via-front.xml"


@dataclass
class Calls:
    """Per call of one SIPp run: start (ms on SIPp's clock), and for the answered ones the
    answering node's address."""

    started: dict[int, int]
    answered_by: dict[int, str]
    returncode: int
    output: str

    def failed(self) -> list[int]:
        return sorted(set(self.started) - set(self.answered_by))


def sipp_callers(
    base: Settings, workdir: Path, *, calls: int, rate: float
) -> subprocess.Popen[str]:
    workdir.mkdir(parents=True, exist_ok=True)
    cmd = [
        "sipp", f"{base.sip_front}:{base.sip_port}", "-sf", str(SCENARIOS / SCENARIO),
        "-s", "100", "-i", "127.0.0.1", "-p", str(free_udp_port()),
        "-mp", str(free_media_port()), "-m", str(calls), "-r", str(rate), "-l", str(calls),
        "-timeout", "40s", "-nostdin", "-trace_err", "-trace_logs",
    ]  # fmt: skip
    return subprocess.Popen(
        cmd, cwd=workdir, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )


def collect(proc: subprocess.Popen[str], workdir: Path) -> Calls:
    output, _ = proc.communicate(timeout=70)
    started: dict[int, int] = {}
    answered: dict[int, str] = {}
    for log in workdir.glob("*_logs.log"):
        for line in log.read_text(errors="replace").splitlines():
            parts = line.split()
            if len(parts) >= 3 and parts[0] == "start":
                started[int(parts[1])] = int(parts[2])
            elif len(parts) >= 4 and parts[0] == "ok":
                answered[int(parts[1])] = parts[3]
    errors = "".join(p.read_text(errors="replace") for p in workdir.glob("*_errors.log"))
    return Calls(started, answered, proc.returncode, output + errors[-3000:])


def ari_post(node: Settings, path: str) -> None:
    ari_send(node, "POST", path)


def no_channels(node: Settings) -> bool:
    return bool(ari_get(node, "/channels") == [])


def wait_no_channels(nodes: Iterable[Settings], timeout: float = 10) -> None:
    """Wait until each node's ARI lists no channel (AssertionError naming the node else)."""
    for node in nodes:
        wait_for(f"no channels left on {node.bind}", lambda n=node: no_channels(n), timeout)
