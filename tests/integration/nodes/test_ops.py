"""What ops run against "the" Asterisk reaches every node of a multi-node stack (issue 19)."""

from __future__ import annotations

import asyncio
import time

import pytest

from ivr.commands.dialplan import reload_everywhere, reload_targets
from ivr.config import project_root
from ivr.flowdefs import read_snapshot
from tests.integration.nodes.conftest import TwoNodes

pytestmark = pytest.mark.integration


def test_dialplan_reload_reaches_every_node(two_nodes: TwoNodes) -> None:
    """`linja dialplan reload` with the stack's settings: each node's Asterisk is reloaded
    over its own AMI and each node controller's snapshot is written (before, the reload went
    to the stack's own address, where no Asterisk listens on a multi-node stack)."""
    targets = reload_targets(two_nodes.base)
    assert [t.snapshot.parent for t in targets] == [n.state_dir for n in two_nodes.nodes]
    assert all(t.running for t in targets)
    before = time.time()
    flows = asyncio.run(
        reload_everywhere(project_root() / "dialplan", app=two_nodes.base.ari_app, targets=targets)
    )
    for node in two_nodes.nodes:
        snapshot = node.state_dir / "flows.json"
        assert snapshot.stat().st_mtime >= before and read_snapshot(snapshot) == flows
