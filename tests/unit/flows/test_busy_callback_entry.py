"""The busy prompt's "press 1" (issue 15): Stasis(linja,menu,<tenant>,callback:<queue>) takes
the caller straight to a callback request for that queue, without the menu."""

from __future__ import annotations

from pathlib import Path

from ivr.flowdefs.model import Queue
from storage.events import ContactRequested
from tests.unit.flows.support_recording import tenant_flows, world


async def test_a_callback_entry_starts_at_the_callback_request(tmp_path: Path) -> None:
    flows = tenant_flows(tmp_path, queues={"support": Queue("support", ("agent1",))})
    w = await world(tmp_path, flows)
    w.fake.start_call("c1", args=["menu", "acme", "callback:support"], caller="0401234567")
    await w.fake.wait_until(lambda: len(w.fake.media_played("c1")) > 3)
    assert "sound:welcome" not in w.fake.media_played("c1")  # not the menu
    w.fake.dtmf("c1", "1")  # "press 1 to confirm 040 123 4567"
    await w.fake.wait_calls_done()
    (request,) = w.sink.of(ContactRequested)
    assert request.queue == "support" and request.callback_number == "+358401234567"
