"""Losing a node mid call-out (issue 19): `kill -9` of one node's Asterisk and controller while
its controller holds the leases of a staff call-out's member calls.

The call-out (needed 2, two calls at once) is dialled by node n1's controller alone (n0's is
stopped until n1's calls are up, then started again, so n1 holds every lease): "First" has
confirmed, "Ring" is ringing (never answers), "Machine" is an answering machine listening to
the message, "Last" waits for a free place. Then n1 is killed. The survivor (n0) must:

- take the leases of n1 over once n1's heartbeat stops (``DOWN_AFTER``), not only once the
  leases have aged (``CALLOUT_LEASE``), closing n1's cut attempts (``interrupted`` for the one
  ringing, ``answered`` for the one answered: neither reached a decision);
- complete the call-out: ``confirmed`` by "Last", "First" never called again, nobody called
  twice at once (a dead node's leg ends when its Asterisk died), every row there.
"""

from __future__ import annotations

import itertools
import json
import os
import signal
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from ivr.stack.asterisk import AsteriskServer
from ivr.stack.proc import read_pid
from tests.integration.nodes.calls import no_channels
from tests.integration.nodes.conftest import CALLOUT_LEASE, DOWN_AFTER, TwoNodes
from tests.integration.test_callout import Members, _end_running, _group, _wait_ended, ok
from tests.support import sql, wait_for

pytestmark = pytest.mark.integration

# Last digit -> what the member's phone does (callout-member.xml): 1 answers and presses 1,
# 2 rings until cancelled, 3 is an answering machine.
FIRST, RING, MACHINE, LAST = "+358401900011", "+358401900022", "+358401900033", "+358401900041"
# Long enough (~15 s spoken) that the machine still listens when the node is killed.
MESSAGE = (
    "Vesijohtovuoto Keskustassa, Kauppakadun ja Asemakadun kulmassa. Kaikki vapaana olevat "
    "asentajat tulkaa varikolle mahdollisimman pian, ottakaa mukaan pumput ja letkut. "
    "Toistan: vesijohtovuoto Keskustassa, tulkaa varikolle."
)


def _attempts(base: Any, callout_id: str) -> list[Any]:
    return sql(
        base,
        "SELECT m.position, a.* FROM callout_attempts a"
        " JOIN callout_members m ON m.id = a.callout_member_id"
        " WHERE m.callout_id = $1 ORDER BY m.position, a.attempt_no",
        uuid.UUID(callout_id),
    )


def _open_on_uas(members: Members) -> dict[str, str]:
    """Number -> what its call still open at the UAS last did (invite / answered ...)."""
    last: dict[str, tuple[str, str]] = {}
    for call, number, what, _ in members.events():
        last[call] = (number, what)
    return {n: what for n, what in last.values() if what != "end"}


def _overlaps(members: Members, cut_at: float) -> list[str]:
    """Numbers called twice at once at the UAS; a call the lost node left open (its Asterisk
    died: no BYE ever comes) ends at ``cut_at``."""
    spans: dict[str, list[tuple[float, float]]] = {}
    starts: dict[str, tuple[str, float]] = {}
    for call, number, what, at in members.events():
        if what == "invite":
            starts[call] = (number, at)
        elif what == "end" and call in starts:
            n, t0 = starts.pop(call)
            spans.setdefault(n, []).append((t0, at))
    for n, t0 in starts.values():
        spans.setdefault(n, []).append((t0, cut_at if t0 < cut_at else float("inf")))
    return sorted(
        n for n, s in spans.items() if any(b[0] < a[1] for a, b in itertools.pairwise(sorted(s)))
    )


def test_node_lost_mid_callout_the_survivor_takes_its_leases_over_and_completes_it(
    two_nodes: TwoNodes, tmp_path: Path
) -> None:
    base = two_nodes.base
    _end_running(base)
    victim_ix, survivor_ix = 1, 0
    victim, survivor = two_nodes.nodes[victim_ix], two_nodes.nodes[survivor_ix]
    victim_ctl, survivor_ctl = two_nodes.controllers[victim_ix], two_nodes.controllers[survivor_ix]
    name = f"node-loss-{uuid.uuid4().hex[:8]}"
    _group(name, [("First", [FIRST]), ("Ring", [RING]), ("Machine", [MACHINE]), ("Last", [LAST])])
    members = Members(tmp_path / "members", two_nodes.customer_port, calls=50)
    try:
        survivor_ctl.stop()  # n1's controller alone claims: it holds every lease
        callout_id = ok(
            "callout", "start", "--tenant", "demo", "--group", name, "--message", MESSAGE,
            "--needed", "2", "--wait", "4s", "--max-parallel", "2", "--max-attempts", "2",
            "--retry-delay", "1s", "--ring", "30s", "--language", "fi",
        )  # fmt: skip

        def first_confirmed_ring_and_machine_up() -> bool:
            states = {
                r["position"]: r["state"]
                for r in sql(
                    base,
                    "SELECT position, state FROM callout_members WHERE callout_id = $1",
                    uuid.UUID(callout_id),
                )
            }
            up = _open_on_uas(members)
            return states.get(1) == "confirmed" and RING in up and up.get(MACHINE) == "answered"

        wait_for(
            "First confirmed, Ring ringing, Machine answered",
            first_confirmed_ring_and_machine_up,
            timeout=40,
            step=0.2,
        )
        log_from = len(survivor_ctl.log())
        survivor_ctl.start()  # its takeover gate opens after LINJA_CALLOUT_TAKEOVER_GRACE (2 s)
        time.sleep(2.5)
        assert victim_ctl.proc is not None
        lost_id = f"{os.uname().nodename}:{victim_ctl.proc.pid}"  # ivr/heartbeat/identity.py
        held = sql(
            base,
            "SELECT m.position, m.dialing_by FROM callout_members m"
            " WHERE m.callout_id = $1 AND m.dialing_by IS NOT NULL ORDER BY m.position",
            uuid.UUID(callout_id),
        )
        assert [(r["position"], r["dialing_by"]) for r in held] == [(2, lost_id), (3, lost_id)]
        assert set(_open_on_uas(members)) == {RING, MACHINE}, members.events()

        # kill -9 the node: its Asterisk and its controller together.
        pid = read_pid(AsteriskServer(victim).pidfile)
        assert pid is not None
        os.kill(pid, signal.SIGKILL)
        victim_ctl.kill()
        killed_at = time.time()

        done = _wait_ended(base, callout_id, timeout=45)
        ended_s = time.time() - killed_at
        wait_for("no channels left on the survivor", lambda: no_channels(survivor), timeout=15)
    finally:
        members.close()
        _end_running(base)
    assert done["status"] == "confirmed", done
    attempts = _attempts(base, callout_id)
    by_lost = [a for a in attempts if a["controller"] == lost_id]
    by_survivor = [a for a in attempts if a["controller"] != lost_id]
    cut = [a for a in by_lost if a["position"] in (2, 3)]
    takeover_s = min(a["ended_at"].timestamp() for a in cut) - killed_at
    first_dial_s = min(a["started_at"].timestamp() for a in by_survivor) - killed_at
    invites = dict(members.invites())
    print(
        f"kill -9 of {victim.bind} mid call-out: leases taken over {takeover_s:.1f}s after the "
        f"kill (heartbeat bound {DOWN_AFTER:.0f}s, lease {CALLOUT_LEASE:.0f}s), the survivor's "
        f"first call {first_dial_s:.1f}s after it, the call-out confirmed {ended_s:.1f}s "
        f"after it; calls per number at the UAS: {invites}"
    )
    outcomes = {
        pos: [(a["controller"] == lost_id, a["outcome"]) for a in attempts if a["position"] == pos]
        for pos in (1, 2, 3, 4)
    }
    # Confirmed before the loss: never called again. Cut by the loss: the ringing attempt
    # interrupted, the answered one answered (no key: not reached; retried at most once).
    assert outcomes[1] == [(True, "confirmed")], outcomes
    assert outcomes[2][0] == (True, "interrupted"), outcomes
    assert outcomes[3][0] == (True, "answered"), outcomes
    for pos in (2, 3):
        assert all(
            not lost and o in ("no_answer", "machine", "ended") for lost, o in outcomes[pos][1:]
        )
    assert outcomes[4] == [(False, "confirmed")], outcomes
    assert all(a["ended_at"] is not None for a in attempts), attempts  # none left open
    # Taken over by the heartbeat, well before the leases would have aged out.
    assert 0 < takeover_s < DOWN_AFTER + 4, takeover_s
    assert invites[FIRST] == 1 and invites[LAST] == 1, invites
    assert all(1 <= invites[n] <= 2 for n in (RING, MACHINE)), invites
    assert _overlaps(members, killed_at) == [], members.events()
    for pos in (2, 3):  # in the rows too: a member's next attempt after the cut one ended
        mine = [a for a in attempts if a["position"] == pos]
        assert all(b["started_at"] >= a["ended_at"] for a, b in itertools.pairwise(mine)), mine
    report = json.loads(ok("callout", "report", callout_id, "--format", "json"))
    assert report["totals"]["members"] == 4 and report["totals"]["confirmed"] == 2, report
    assert report["totals"]["attempts"] == len(attempts)
    log = survivor_ctl.log()[log_from:]
    assert "Traceback" not in log, log[-3000:]
    assert f"lease of {lost_id} expired; taken over by" in log or "left by a dead controller" in log
