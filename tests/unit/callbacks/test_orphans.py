"""Issue 17 (kill -9 with recorded callbacks): a callback leg whose controller died reaches a
restarted controller's router as a flow of its own, with the tenant, and is hung up; before,
its Stasis arguments had no tenant and the router refused them as malformed."""

from __future__ import annotations

from ivr.ari.dispatcher import Dispatcher
from ivr.callbacks.orphans import AGENT_LEG, CUSTOMER_LEG, orphan_flows
from ivr.flows.router import FlowRouter
from tests.unit.ari.util import until
from tests.unit.fake_ari import FakeAri


async def test_orphaned_callback_legs_are_hung_up_as_their_own_flow() -> None:
    fake = FakeAri(default_duration=0.001)
    dispatcher = Dispatcher(
        fake, FlowRouter({f.name: f for f in orphan_flows()}).handle, app="linja"
    )
    fake.attach(dispatcher)
    fake.start_call("cb-agent-leg", args=[AGENT_LEG, "demo"])
    fake.start_call("cb-customer-leg", args=[CUSTOMER_LEG, "demo"])
    fake.start_call("stranger", args=["no-such-flow", "demo"])
    await until(
        lambda: all(
            fake.requests_to("DELETE", f"/channels/{c}")
            for c in ("cb-agent-leg", "cb-customer-leg", "stranger")
        )
    )
    # Neither leg was answered, played to or bridged: only hung up.
    touched = {path for _, path, _, _ in fake.requests if "cb-" in path}
    assert touched == {"/channels/cb-agent-leg", "/channels/cb-customer-leg"}, touched
