"""The two-node stack (issue 19) every test of this package runs on: Kamailio in front of two
Asterisk nodes, a controller per node, the worker's Postgres. One stack for the package (it
goes to one xdist worker as a whole, tests/conftest.py); each test starts on a healed stack:
a node a test killed is started again, and a controller a test killed is restarted.

The stack is the worker's settings with a state dir of its own (its own Asterisk instances,
Kamailio run dir, pid files) and the SIP port 2 above the worker's: Kamailio listens on the
worker's bind address at that port, the nodes on 127.0.0.2 and 127.0.0.3 with that SIP port
and the worker's ARI, AMI and HTTP ports. The worker port layout (ivr/stack/workers.py, a
step of 3) gives UDP ports 2 above a SIP port to nobody, and the worker's own TCP ports on
the node addresses are used by no other worker: no other worker's stack is ever met.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import pytest

from ivr.config import Settings
from ivr.stack import control, nodes
from ivr.stack.asterisk import AsteriskServer
from tests.support import Controller, free_udp_port, wait_for

NODES = 2
SIP_SHIFT = 2  # see the module docstring
# Every node's controller: callbacks (and call-outs) dialled through a trunk a test's
# customer (members') UAS listens on, heartbeats that tell a lost node within seconds, and
# callback leases well above that bound, so a test tells a takeover by heartbeat from one by
# the lease's age.
CALLBACK_LEASE = 20.0
DOWN_AFTER = 5.0
# A bulletin call on 100, in the line of the full path ("[<channel>] playing ...") or the
# fast path's line of a second ("[<channel>,<channel>,...] playing ... from its fallback file").
_PLAYING = re.compile(r"\[([\w.,-]+)\] playing \d+ item\(s\) on 100 \(bulletins")
# Call-outs dialled through the same trunk (a test's members' UAS): a lease well above the
# heartbeat bound, so a test tells a takeover by heartbeat from one by the lease's age.
CALLOUT_LEASE = 20.0


@dataclass
class TwoNodes:
    base: Settings
    nodes: list[Settings]
    controllers: list[Controller]
    customer_port: int  # the nodes' callback trunk: 127.0.0.1 at this port

    def started(self) -> list[int]:
        """Calls each node's controller has started (counted on the nodes' side)."""
        return [
            sum(len(m.split(",")) for m in _PLAYING.findall(ctl.log())) for ctl in self.controllers
        ]

    def restart_node(self, index: int, node: Settings | None = None) -> None:
        """Node ``index``'s Asterisk configured from ``node`` (default: its own settings, as
        `linja stack up --nodes 2` renders it) and started again; back once the dispatcher sees
        every node up and the node's controller has reconnected."""
        rendered = node if node is not None else self.nodes[index]
        control.prepare_asterisk(
            rendered,
            agents_dir=self.base.state_dir,
            registrar=f"{self.base.sip_front}:{self.base.sip_port}",
        )
        server = AsteriskServer(rendered)
        server.stop()
        server.start()
        nodes.kamailio(self.base, NODES).wait_nodes_active(timeout=20)
        ctl = self.controllers[index]
        wait_for(f"controller of {ctl.settings.bind} healthy", ctl.healthy, timeout=30)

    def heal(self) -> None:
        """Every node's Asterisk and controller running, and the dispatcher seeing each node
        up (after a test killed one)."""
        dead = [n for n in self.nodes if not AsteriskServer(n).status().running]
        for node in dead:
            AsteriskServer(node).start()
        for ctl in self.controllers:
            if ctl.proc is None or ctl.proc.poll() is not None:
                if ctl.proc is not None:
                    ctl.kill()  # reaps it and closes its log
                ctl.start()
        if dead:
            nodes.kamailio(self.base, NODES).wait_nodes_active(timeout=20)
        for ctl in self.controllers:  # each connected to its (maybe restarted) Asterisk
            wait_for(f"controller of {ctl.settings.bind} healthy", ctl.healthy, timeout=30)


@pytest.fixture(scope="package")
def two_nodes_stack(
    stack: Settings, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[TwoNodes]:
    base = nodes.beside(stack, "node-test", SIP_SHIFT)
    logs = tmp_path_factory.mktemp("nodes")
    customer_port = free_udp_port()
    tuning = {
        "LINJA_CALLBACK_TRUNK": f"127.0.0.1:{customer_port}",
        "LINJA_CALLBACK_POLL_INTERVAL": "0.5",
        "LINJA_CALLBACK_LEASE": str(CALLBACK_LEASE),
        "LINJA_CALLBACK_TAKEOVER_GRACE": "2",
        "LINJA_HEARTBEAT_INTERVAL": "1",
        "LINJA_CONTROLLER_DOWN_AFTER": str(DOWN_AFTER),
        "LINJA_CALLOUT_POLL_INTERVAL": "0.5",
        "LINJA_CALLOUT_LEASE": str(CALLOUT_LEASE),
        "LINJA_CALLOUT_TAKEOVER_GRACE": "2",
        "LINJA_CALLOUT_KEY_TIMEOUT": "2",
        "LINJA_CALLOUT_PLAYS": "1",
    }
    started = time.monotonic()
    node_settings = nodes.up(base, NODES)
    stack_s = time.monotonic() - started
    controllers = [
        Controller(
            n, logs / f"controller-n{i}.log", env={**nodes.node_env(base, i, NODES), **tuning}
        )
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
        yield TwoNodes(base, node_settings, controllers, customer_port)
    finally:
        with ThreadPoolExecutor(max_workers=NODES) as pool:
            for done in [pool.submit(_stop, c) for c in controllers]:
                done.result()
        nodes.down(base)


@pytest.fixture
def two_nodes(two_nodes_stack: TwoNodes) -> TwoNodes:
    """The package's stack, healed of what an earlier test did to it."""
    two_nodes_stack.heal()
    return two_nodes_stack


def _stop(ctl: Controller) -> None:
    """A controller whose node is gone has nothing left to tidy: killed, not waited for."""
    if AsteriskServer(ctl.settings).status().running:
        ctl.stop()
    else:
        ctl.kill()
