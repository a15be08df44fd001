"""A node that refuses new calls while it is still alive (issue 19): Kamailio's failure route
moves each INVITE it answers with a 5xx to the other node, and no caller notices.

- **At its call cap** (``LINJA_ASTERISK_MAX_CALLS``, asterisk.conf ``maxcalls``): Asterisk
  answers a new INVITE ``503 Service Unavailable`` (``Reason: Q.850;cause=42``) and goes on
  answering OPTIONS ``200``, so the dispatcher keeps the node up and round robin keeps
  sending it its share of new calls: the failure route is what saves them.
- **Drained** (`core stop gracefully` on the node's Asterisk: maintenance without failing a
  call): Asterisk answers new INVITEs and OPTIONS ``503``, lets the calls it carries go on to
  their end, then exits. The INVITEs of the first probe intervals are moved on by the
  failure route, then the dispatcher takes the node out (two probes answered 503).
"""

from __future__ import annotations

import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

import pytest

from ivr.config import Settings
from ivr.stack import nodes
from ivr.stack.asterisk import AsteriskServer
from ivr.stack.proc import pid_alive, read_pid
from tests.integration.nodes.calls import collect, sipp_callers, wait_no_channels
from tests.integration.nodes.conftest import NODES, TwoNodes
from tests.support import SCENARIOS, ari_get, free_media_port, free_udp_port, run_sipp, wait_for

pytestmark = pytest.mark.integration

CAP = 10  # the lowest LINJA_ASTERISK_MAX_CALLS there is
MENU = "200"
# What Asterisk logs for each call it refuses at its cap (pbx.c increase_call_count).
REFUSED = f"Maximum call limit of {CAP} calls exceeded"


def _listeners(node: Settings, workdir: Path, calls: int, hold_ms: int) -> subprocess.Popen[str]:
    """``calls`` callers straight to ``node`` (it takes calls from the front end's address,
    which is SIPp's too), each listening to the menu without a key for ``hold_ms``: well
    within the menu's three 5 s rounds, so the node never hangs up on them first."""
    workdir.mkdir(parents=True, exist_ok=True)
    media = free_media_port()
    cmd = [
        "sipp", f"{node.bind}:{node.sip_port}", "-sf",
        str(SCENARIOS / "caller-listens-then-hangs-up.xml"), "-s", MENU, "-i", "127.0.0.1",
        "-p", str(free_udp_port()), "-mp", str(media), "-key", "rtp_port", str(media),
        "-m", str(calls), "-r", str(calls), "-l", str(calls), "-d", str(hold_ms),
        "-timeout", "60s", "-nostdin", "-trace_err",
    ]  # fmt: skip
    return subprocess.Popen(
        cmd, cwd=workdir, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )


def _asterisk_output(node: Settings, since: int) -> str:
    with AsteriskServer(node).outfile.open("rb") as fh:
        fh.seek(since)
        return fh.read().decode(errors="replace")


def _first_refusal(output: str) -> float | None:
    """When (epoch) Asterisk first refused a call for its shutdown, from its log lines
    ("[2026-12-04 18:45:23.686] WARNING[...] ... Refusing due to active shutdown"; the
    Asterisk root's clock is UTC)."""
    for line in output.splitlines():
        if "Refusing due to active shutdown" in line and line.startswith("["):
            stamp = datetime.strptime(line[1:24], "%Y-%m-%d %H:%M:%S.%f")
            return stamp.replace(tzinfo=UTC).timestamp()
    return None


def _flag(front_flags: dict[str, str], node: Settings) -> str:
    """The dispatcher's state of ``node``: A(ctive), I(nactive), T(rying), D(isabled)."""
    return front_flags.get(f"sip:{node.bind}:{node.sip_port}", "")[:1]


def _up(front_flags: dict[str, str], node: Settings) -> bool:
    return _flag(front_flags, node) == "A"


def test_a_node_at_its_call_cap_answers_503_and_its_calls_go_to_the_other_node(
    two_nodes: TwoNodes, tmp_path: Path
) -> None:
    base = two_nodes.base
    other, full = two_nodes.nodes
    front = nodes.kamailio(base, NODES)
    calls_total, rate = 40, 20
    two_nodes.restart_node(1, full.model_copy(update={"asterisk_max_calls": CAP}))
    held: subprocess.Popen[str] | None = None
    try:
        mark = AsteriskServer(full).outfile.stat().st_size
        # The node fills up with callers of its own (the menu, no key pressed).
        held = _listeners(full, tmp_path / "held", CAP, hold_ms=10_000)
        wait_for(
            f"{CAP} calls up on {full.bind}",
            lambda: len(ari_get(full, "/channels")) == CAP,
            timeout=10,
            step=0.1,
        )
        # What the full node answers, asked directly: OPTIONS 200, a new INVITE 503.
        probe = run_sipp(
            "node-refuses-new-calls.xml", tmp_path / "probe", service="100", settings=full,
            timeout=10, extra=["-trace_logs"],
        )  # fmt: skip
        logs = (tmp_path / "probe").glob("*_logs.log")
        said = "".join(p.read_text(errors="replace") for p in logs)
        assert probe.returncode == 0, probe.output + probe.errors
        print(f"{full.bind} at its cap of {CAP} calls: OPTIONS 200, INVITE {said.strip()}")

        before = two_nodes.started()
        t0 = time.monotonic()
        calls = collect(
            sipp_callers(base, tmp_path / "callers", calls=calls_total, rate=rate),
            tmp_path / "callers",
        )
        run_s = time.monotonic() - t0
        flags = front.destinations()
        held_out, _ = held.communicate(timeout=30)
        held_rc = held.returncode
        refused = _asterisk_output(full, mark).count(REFUSED) - 1  # less the probe's
    finally:
        if held is not None and held.poll() is None:
            held.kill()
            held.wait()
        two_nodes.restart_node(1)  # its own cap again

    deadline = time.monotonic() + 10
    while sum(n - b for n, b in zip(two_nodes.started(), before, strict=True)) < calls_total:
        if time.monotonic() > deadline:
            break
        time.sleep(0.2)
    per_node = [n - b for n, b in zip(two_nodes.started(), before, strict=True)]
    print(
        f"{calls_total} calls through Kamailio at {rate}/s in {run_s:.1f}s while {full.bind} "
        f"was full: {full.bind} refused {refused} of them (503), the dispatcher kept it "
        f"{'up' if _up(flags, full) else 'DOWN'}; calls started per node {per_node}"
    )
    # Every caller was served, by the other node; none noticed the refusals.
    assert calls.returncode == 0, calls.output
    assert len(calls.started) == calls_total and not calls.failed(), calls.output
    assert set(calls.answered_by.values()) == {other.bind}, calls.answered_by
    assert per_node == [calls_total, 0], per_node
    # The failure route saved them, not the dispatcher: the full node answered OPTIONS all
    # along (still up) and round robin went on offering it every other call, each refused.
    assert _up(flags, full), flags
    assert calls_total * 0.3 <= refused <= calls_total * 0.7, refused
    # The full node's own callers kept their calls to the end (a refusal drops none).
    assert held_rc == 0, held_out
    wait_no_channels(two_nodes.nodes)


def test_a_drained_node_ends_its_calls_normally_and_its_new_calls_go_to_the_other(
    two_nodes: TwoNodes, tmp_path: Path
) -> None:
    base = two_nodes.base
    other, drained = two_nodes.nodes
    front = nodes.kamailio(base, NODES)
    server = AsteriskServer(drained)
    pid = read_pid(server.pidfile)
    assert pid is not None
    calls_total, rate, carried, hold_ms = 40, 20, 3, 6000
    held = _listeners(drained, tmp_path / "held", carried, hold_ms=hold_ms)
    callers: subprocess.Popen[str] | None = None
    try:
        wait_for(
            f"{carried} calls up on {drained.bind}",
            lambda: len(ari_get(drained, "/channels")) == carried,
            timeout=10,
            step=0.1,
        )
        before = two_nodes.started()
        mark = server.outfile.stat().st_size
        with ThreadPoolExecutor(max_workers=1) as pool:
            t0 = time.monotonic()
            # Returns once Asterisk has exited (after its last call).
            stopping = pool.submit(server.cli, "core stop gracefully", timeout=60)
            launched, launched_at = time.monotonic(), time.time()
            callers = sipp_callers(base, tmp_path / "callers", calls=calls_total, rate=rate)
            wait_for(
                "the dispatcher to take the drained node out",
                lambda: _flag(front.destinations(), drained) == "I",
                timeout=10,
                step=0.05,
            )
            out_s = time.monotonic() - t0
            # Calls SIPp started before then (its clock starts at its launch; 0.2 s spare):
            # the dispatcher still had the node up, round robin sent it every other one.
            still_up_ms = (time.monotonic() - launched - 0.2) * 1000
            calls = collect(callers, tmp_path / "callers")
            held_out, _ = held.communicate(timeout=30)
            stopping.result(timeout=30)
            wait_for("the drained Asterisk to exit", lambda: not pid_alive(pid), timeout=10)
            gone_s = time.monotonic() - t0
    finally:
        for proc in (held, callers):
            if proc is not None and proc.poll() is None:
                proc.kill()
                proc.wait()
        two_nodes.heal()  # the drained node started again

    per_node = [n - b for n, b in zip(two_nodes.started(), before, strict=True)]
    early = [c for c, ms in calls.started.items() if ms < still_up_ms]
    print(
        f"core stop gracefully on {drained.bind} carrying {carried} calls of {hold_ms / 1000:.0f}"
        f" s: the dispatcher took it out {out_s:.1f}s later, its Asterisk exited {gone_s:.1f}s "
        f"after the drain began; {calls_total} new calls at {rate}/s meanwhile: "
        f"{len(calls.answered_by)} served ({len(early)} started while it was still up), "
        f"calls started per node {per_node}"
    )
    # The calls it carried went on to their end (each caller's own BYE answered) ...
    assert held.returncode == 0, held_out
    # ... no new call failed, each served by the other node ...
    assert calls.returncode == 0, calls.output
    assert len(calls.started) == calls_total and not calls.failed(), calls.output
    # ... by the other node once the drain was in effect: the drained node took only calls
    # that reached it before its Asterisk ran the stop (the CLI is a process of its own,
    # started beside the callers) ...
    refusing = _first_refusal(_asterisk_output(drained, mark))
    assert refusing is not None, "the drained node refused no call"
    took = sorted(c for c, at in calls.answered_by.items() if at == drained.bind)
    late = [c for c in took if launched_at + calls.started[c] / 1000 > refusing + 0.05]
    assert not late, (late, refusing - launched_at, calls.answered_by)
    assert set(calls.answered_by.values()) <= {other.bind, drained.bind}, calls.answered_by
    # ... and those round robin offered it afterwards, while the dispatcher still had it up,
    # were refused and moved on by the failure route.
    assert per_node[1] == len(took), (per_node, took)
    assert len(early) >= 2, (still_up_ms, sorted(calls.started.values())[:5])
