"""A two-node stack (issue 19): Kamailio in front of two Asterisk nodes, a controller per node,
the worker's Postgres. Calls spread over both nodes; an agent registered with Kamailio is
rung by either node; a node killed with -9 is taken out and new calls go on through the
other node.

The stack is the worker's settings with a state dir of its own (its own Asterisk instances,
Kamailio run dir, pid files) and the SIP port 2 above the worker's: Kamailio listens on the
worker's bind address at that port, the nodes on 127.0.0.2 and 127.0.0.3 with that SIP port
and the worker's ARI, AMI and HTTP ports. The worker port layout (ivr/stack/workers.py, a
step of 3) gives UDP ports 2 above a SIP port to nobody, and the worker's own TCP ports on
the node addresses are used by no other worker: no other worker's stack is ever met.
"""

from __future__ import annotations

import collections
import os
import shutil
import signal
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

from ivr.config import Settings
from ivr.stack import nodes
from ivr.stack.asterisk import AsteriskServer
from ivr.stack.proc import read_pid
from tests.support import (
    SCENARIOS,
    AgentPhone,
    Controller,
    ari_get,
    basic_auth,
    free_media_port,
    free_udp_port,
    run_sipp,
    wait_for,
)

pytestmark = pytest.mark.integration

NODES = 2
SCENARIO = "caller-listens-via-front.xml"
SIP_SHIFT = 2  # see the module docstring
FAILOVER_LIMIT_S = 5.0


@dataclass
class TwoNodes:
    base: Settings
    nodes: list[Settings]
    controllers: list[Controller]

    def started(self) -> list[int]:
        """Calls each node's controller has started (counted on the nodes' side)."""
        return [ctl.log().count(" item(s) on 100 (bulletins") for ctl in self.controllers]


@pytest.fixture(scope="module")
def two_nodes(stack: Settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[TwoNodes]:
    state = stack.state_dir / "node-test"
    state.mkdir(parents=True, exist_ok=True)
    state.chmod(0o700)
    shutil.copyfile(stack.state_dir / "secrets.json", state / "secrets.json")
    base = stack.model_copy(
        update={
            "state_dir": state,
            "sip_port": stack.sip_port + SIP_SHIFT,
            "pg_dir": stack.pg_home,
            "audio_dir": stack.audio_store_dir,
        }
    )
    logs = tmp_path_factory.mktemp("nodes")
    started = time.monotonic()
    node_settings = nodes.up(base, NODES)
    stack_s = time.monotonic() - started
    controllers = [
        Controller(n, logs / f"controller-n{i}.log", env=nodes.node_env(base, i, NODES))
        for i, n in enumerate(node_settings)
    ]
    try:
        with ThreadPoolExecutor(max_workers=NODES) as pool:
            for done in [pool.submit(c.start) for c in controllers]:
                done.result()
        print(
            f"two-node stack up in {stack_s:.1f}s, "
            f"its controllers {time.monotonic() - started - stack_s:.1f}s later"
        )
        yield TwoNodes(base, node_settings, controllers)
    finally:
        with ThreadPoolExecutor(max_workers=NODES) as pool:
            for done in [pool.submit(_stop, c) for c in controllers]:
                done.result()
        nodes.down(base)


def _stop(ctl: Controller) -> None:
    """A controller whose node is gone has nothing left to tidy: killed, not waited for."""
    if AsteriskServer(ctl.settings).status().running:
        ctl.stop()
    else:
        ctl.kill()


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


def _sipp(base: Settings, workdir: Path, *, calls: int, rate: float) -> subprocess.Popen[str]:
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


def _calls(proc: subprocess.Popen[str], workdir: Path) -> Calls:
    output, _ = proc.communicate(timeout=70)
    started: dict[int, int] = {}
    answered: dict[int, str] = {}
    for log in workdir.glob("*_logs.log"):
        for line in log.read_text().splitlines():
            parts = line.split()
            if len(parts) >= 3 and parts[0] == "start":
                started[int(parts[1])] = int(parts[2])
            elif len(parts) >= 4 and parts[0] == "ok":
                answered[int(parts[1])] = parts[3]
    errors = "".join(p.read_text(errors="replace") for p in workdir.glob("*_errors.log"))
    return Calls(started, answered, proc.returncode, output + errors[-3000:])


def ari_post(node: Settings, path: str) -> None:
    req = urllib.request.Request(
        f"{node.ari_base_url}{path}",
        method="POST",
        headers=basic_auth(node.ari_user, node.require("ari_password")),
    )
    with urllib.request.urlopen(req, timeout=5):
        pass


def _no_channels(node: Settings) -> bool:
    return bool(ari_get(node, "/channels") == [])


def test_calls_spread_over_both_nodes(two_nodes: TwoNodes, tmp_path: Path) -> None:
    before = two_nodes.started()
    calls = _calls(_sipp(two_nodes.base, tmp_path, calls=200, rate=80), tmp_path)

    assert calls.returncode == 0, calls.output
    assert len(calls.started) == 200 and not calls.failed(), calls.output
    per_node = [now - then for now, then in zip(two_nodes.started(), before, strict=True)]
    shares = [n / 200 for n in per_node]
    print(f"200 calls through Kamailio: per node {per_node} ({[f'{s:.0%}' for s in shares]})")
    assert sum(per_node) == 200, per_node
    for share in shares:
        assert 0.30 <= share <= 0.70, per_node
    # The callers' side agrees: each call was answered (and hung up) by the node whose
    # controller counted it.
    by_address = collections.Counter(calls.answered_by.values())
    assert by_address == {n.bind: c for n, c in zip(two_nodes.nodes, per_node, strict=True)}
    for node in two_nodes.nodes:
        wait_for(f"no channels left on {node.bind}", lambda n=node: _no_channels(n), 10)


def test_an_agent_registered_with_kamailio_is_rung_by_either_node(
    two_nodes: TwoNodes, tmp_path: Path
) -> None:
    base = two_nodes.base
    wrong = run_sipp(
        "agent-registers.xml", tmp_path / "wrong", service="agent1", settings=base, timeout=5,
        extra=["-au", "agent1", "-ap", "not-the-password", "-key", "contact_port", "5",
               "-key", "expires", "60", "-trace_msg"],
    )  # fmt: skip
    messages = "".join(p.read_text() for p in (tmp_path / "wrong").glob("*_messages.log"))
    assert wrong.returncode != 0 and "SIP/2.0 200" not in messages, messages
    assert messages.count("SIP/2.0 401 Unauthorized") == 2, messages  # challenged again
    phone = AgentPhone(base, "agent1", "agent-answers.xml", tmp_path, talk_ms=300, calls=NODES)
    try:
        for node in two_nodes.nodes:
            ari_post(
                node,
                "/channels?endpoint=PJSIP/agent1&context=linja-inbound&extension=100&priority=1",
            )
        returncode, output = phone.wait(timeout=30)
    finally:
        phone.close()
    # A call from each node reached the phone through Kamailio's registrar; the phone
    # answered both and hung up, its BYEs reaching the nodes.
    assert returncode == 0, output
    for node in two_nodes.nodes:
        wait_for(f"no channels left on {node.bind}", lambda n=node: _no_channels(n), 10)


def test_killed_node_is_taken_out_and_calls_go_on_through_the_other(
    two_nodes: TwoNodes, tmp_path: Path
) -> None:
    survivor, victim = two_nodes.nodes
    front = nodes.kamailio(two_nodes.base, NODES)
    rate, calls_total, kill_after = 20, 160, 2.0
    t0 = time.monotonic()
    proc = _sipp(two_nodes.base, tmp_path, calls=calls_total, rate=rate)
    time.sleep(kill_after)
    pid = read_pid(AsteriskServer(victim).pidfile)
    assert pid is not None
    os.kill(pid, signal.SIGKILL)
    killed_ms = (time.monotonic() - t0) * 1000
    wait_for(
        "the dispatcher to take the killed node out",
        lambda: front.destinations().get(f"sip:{victim.bind}:{victim.sip_port}", "A")[:1] == "I",
        timeout=FAILOVER_LIMIT_S,
    )
    out_after_s = time.monotonic() - t0 - killed_ms / 1000
    calls = _calls(proc, tmp_path)

    assert len(calls.started) == calls_total, calls.output
    failed = calls.failed()
    after_kill = {c: ms for c, ms in calls.started.items() if ms >= killed_ms}
    late = {c for c, ms in after_kill.items() if ms >= killed_ms + FAILOVER_LIMIT_S * 1000}
    print(
        f"kill -9 of {victim.bind} at {killed_ms / 1000:.2f}s under {rate} calls/s: "
        f"dispatcher marked it down {out_after_s:.2f}s later; {len(failed)} of {calls_total} "
        f"calls failed: "
        + ", ".join(f"#{c} started {(calls.started[c] - killed_ms) / 1000:+.2f}s" for c in failed)
    )
    served_after = [c for c in after_kill if c in calls.answered_by]
    print(
        f"{len(served_after)} of {len(after_kill)} calls started after the kill succeeded, "
        f"all through {set(calls.answered_by[c] for c in served_after)}"
    )
    # New calls keep succeeding: every call started 5 s after the kill (or later) is served,
    # by the surviving node; the ones lost are those the killed node had already answered.
    assert late, "the run should go on for more than 5 s after the kill"
    assert not [c for c in late if c in failed], calls.output
    assert {calls.answered_by[c] for c in late} == {survivor.bind}
    assert all(calls.started[c] < killed_ms for c in failed), failed
    assert len(failed) <= rate * 2, failed  # at most the calls in progress on the victim
    wait_for("no channels left on the survivor", lambda: _no_channels(survivor), 10)
