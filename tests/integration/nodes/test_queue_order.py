"""One queue order across the nodes (issue 19): callers sent straight to node n0 or n1 wait in
one shared queue (Postgres) and are served by arrival time, whichever node holds them, by
agents registered with Kamailio; an agent never has two calls at once (seen from the agent's
phone: the start and end of each call it took)."""

from __future__ import annotations

import asyncio
import itertools
import json
import time
import urllib.request
import uuid
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from ivr.config import Settings
from tests.integration.nodes.conftest import TwoNodes
from tests.support import (
    AgentPhone,
    Controller,
    SippResult,
    basic_auth,
    ensure_demo_admin,
    owner_connection,
    run_sipp,
    wait_for,
)

pytestmark = pytest.mark.integration

ADMIN = "nodes-queue-admin"
PASSWORD = "test-" + uuid.uuid4().hex
SALES = "1"  # the demo menu's key for sales (longest-idle, agent1 and agent2)


def agent_action(ctl: Controller, agent: str, action: str) -> dict[str, Any]:
    req = urllib.request.Request(
        ctl.url(f"/api/agents/{agent}/{action}"), method="POST", headers=basic_auth(ADMIN, PASSWORD)
    )
    with urllib.request.urlopen(req, timeout=10) as resp:
        return dict(json.loads(resp.read()))


async def _fresh_agents(settings: Settings, agents: tuple[str, ...]) -> None:
    """The agents logged out, whatever an earlier test (on this worker's database) left."""
    conn = await owner_connection(settings)
    try:
        await conn.execute(
            "UPDATE agent_states SET state = 'logged_out', offer_id = NULL, entry_id = NULL,"
            " queue = NULL, answered_at = NULL, pending = NULL, pending_reason = NULL,"
            " pause_reason = NULL, wrap_up_until = NULL, version = version + 1"
            " WHERE agent_id = ANY($1::text[])",
            list(agents),
        )
    finally:
        await conn.close()


def calls_seen(phone: AgentPhone) -> list[tuple[str, str, float]]:
    """(start|end, caller, epoch seconds) as the agent's phone logged them."""
    path = phone.workdir / "calls.log"
    if not path.exists():
        return []
    out = []
    for line in path.read_text().splitlines():
        kind, caller, at = line.split()[:3]
        out.append((kind, caller, float(at)))
    return out


def _all_ended(seen: list[tuple[str, str, float]]) -> bool:
    kinds = [kind for kind, _, _ in seen]
    return kinds.count("start") == kinds.count("end")


def arrived(result_dir: Path) -> float:
    """When the caller chose the queue (its digit sent), epoch seconds."""
    return float(next(result_dir.glob("dtmf_*.ts")).read_text().strip())


def test_two_callers_on_different_nodes_and_one_agent_served_in_arrival_order(
    two_nodes: TwoNodes, tmp_path: Path
) -> None:
    asyncio.run(ensure_demo_admin(two_nodes.base, ADMIN, PASSWORD))
    asyncio.run(_fresh_agents(two_nodes.base, ("agent1",)))
    n0, n1 = two_nodes.nodes
    ctl0, _ctl1 = two_nodes.controllers
    phone = AgentPhone(
        two_nodes.base, "agent1", "agent-answers-and-logs.xml", tmp_path, talk_ms=1000, calls=2
    )
    callers = {"0401000001": n1, "0401000002": n0}  # the first on n1, the second on n0
    try:
        agent_action(ctl0, "agent1", "login")
        assert agent_action(ctl0, "agent1", "pause")["state"] == "paused"
        with ThreadPoolExecutor(max_workers=2) as pool:
            running: dict[str, Future[SippResult]] = {}
            for number, node in callers.items():
                running[number] = pool.submit(
                    run_sipp,
                    "caller-queues-by-info.xml",
                    tmp_path / number,
                    service="200",
                    settings=node,
                    timeout=40,
                    extra=["-key", "digit", SALES, "-key", "caller", number],
                )
                time.sleep(2.5)  # in the queue (paused agents count as staffed) before the next
            # the agent becomes free on n0, the node of the *later* caller
            assert agent_action(ctl0, "agent1", "unpause")["state"] == "available"
            results = {number: f.result(timeout=60) for number, f in running.items()}
        code, out = phone.wait(timeout=30)
    finally:
        phone.close()
        agent_action(ctl0, "agent1", "logout")
    for number, result in results.items():
        assert result.returncode == 0, f"{number}: {result.output}{result.errors}"
    assert code == 0, out
    order = sorted(callers, key=lambda number: arrived(tmp_path / number))
    assert order == ["0401000001", "0401000002"]
    served = [c for kind, c, _ in calls_seen(phone) if kind == "start" and c in callers]
    print(f"arrival order {order}, served {served}")
    assert served == order


SUPPORT = "2"  # the demo menu's key for support (ring-all: agent1, agent2, agent3)
AGENTS = ("agent1", "agent2", "agent3")


def test_ten_callers_on_both_nodes_three_agents_served_in_arrival_order_one_call_each(
    two_nodes: TwoNodes, tmp_path: Path
) -> None:
    """The agents are freed one at a time, 2 s apart, so a ring-all offer rings one phone
    (a SIPp phone cannot take a CANCEL in the middle of its answer); every later offer goes to
    the one agent whose wrap-up just ended."""
    asyncio.run(ensure_demo_admin(two_nodes.base, ADMIN, PASSWORD))
    asyncio.run(_fresh_agents(two_nodes.base, AGENTS))
    ctls = two_nodes.controllers
    phones = [
        AgentPhone(
            two_nodes.base, a, "agent-answers-and-logs.xml", tmp_path, talk_ms=1000, calls=10
        )
        for a in AGENTS
    ]
    numbers = [f"04020000{i:02d}" for i in range(10)]
    try:
        for agent in AGENTS:
            agent_action(ctls[0], agent, "login")
            assert agent_action(ctls[0], agent, "pause")["state"] == "paused"
        with ThreadPoolExecutor(max_workers=len(numbers)) as pool:
            running: list[Future[SippResult]] = []
            for i, number in enumerate(numbers):  # alternating nodes, 0.6 s apart
                running.append(
                    pool.submit(
                        run_sipp,
                        "caller-queues-by-info.xml",
                        tmp_path / number,
                        service="200",
                        settings=two_nodes.nodes[i % 2],
                        timeout=60,
                        extra=["-key", "digit", SUPPORT, "-key", "caller", number],
                    )
                )
                time.sleep(0.6)
            time.sleep(2.0)  # the last one in the queue
            for i, agent in enumerate(AGENTS):  # freed through either node's API
                assert agent_action(ctls[i % 2], agent, "unpause")["state"] == "available"
                time.sleep(2.0)
            results = [f.result(timeout=90) for f in running]
            for phone in phones:  # each phone logs a call's end after its callers are done
                wait_for(
                    f"{phone.login}'s phone to log the end of each call",
                    lambda p=phone: _all_ended(calls_seen(p)),
                    timeout=15,
                )
    finally:
        for phone in phones:
            phone.close()
        for agent in AGENTS:
            agent_action(ctls[0], agent, "logout")
    for number, result in zip(numbers, results, strict=True):
        assert result.returncode == 0, f"{number}: {result.output[-2000:]}{result.errors}"
    arrival = sorted(numbers, key=lambda number: arrived(tmp_path / number))
    starts: list[tuple[float, str, str]] = []
    for agent, phone in zip(AGENTS, phones, strict=True):
        seen = calls_seen(phone)
        begun: dict[str, float] = {}
        intervals: list[tuple[float, float]] = []
        for kind, caller, at in seen:
            if kind == "start":
                begun[caller] = at
                starts.append((at, caller, agent))
            else:
                intervals.append((begun.pop(caller), at))
        assert not begun, f"{agent}: calls without an end {begun}"
        intervals.sort()
        for (_s1, e1), (s2, _e2) in itertools.pairwise(intervals):
            assert s2 >= e1, f"{agent} had two calls at once: {intervals}"
    # (calls from elsewhere, e.g. a callback due in the worker's database, may come between)
    served = [caller for _at, caller, _agent in sorted(starts) if caller in numbers]
    print(f"arrival {arrival}\nserved  {served}\nby {[a for *_, a in sorted(starts)]}")
    first = min((at for at, *_ in starts), default=0.0)
    print("starts", [(round(at - first, 2), caller, a) for at, caller, a in sorted(starts)])
    assert served == arrival
