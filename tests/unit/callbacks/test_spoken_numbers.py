"""Issue 17, item 1: callers' phone numbers are never stored as spoken audio. The callback
confirmation (the caller hears their number) and the dialer's prompt (the agent hears it) speak
the number from per-digit sounds, so no file name or file content in the sounds directory
derives from a number; the renderer's lock table stays bounded."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

from ivr.ari.call import Call
from ivr.ari.dispatcher import Dispatcher
from ivr.audio import pcm_to_wav
from ivr.flowdefs.model import Queue, TenantFlows
from ivr.flows.callback import CallbackFlow
from ivr.flows.context import CaseContext
from ivr.flows.router import FlowRouter
from ivr.flows.voicemail import VoicemailFlow
from ivr.prompts import PromptRenderer
from recording.finalise import Finaliser
from recording.store import AudioStore
from storage.events import CaseEvent, ContactRequested
from tests.number_traces import spellings, traces
from tests.unit.callbacks.test_dialer import T0, World
from tests.unit.fake_ari import FakeAri
from tests.unit.flows.support_recording import RestrictedNumbers

CALLER = "+358401234567"  # the caller's own number (confirmed by the caller)
CUSTOMER = "+358509876543"  # a request the dialer calls back (the agent hears it)
QUEUE = Queue("support", ("agent1",))
FLOWS = TenantFlows("demo", "fi", "main", {}, {}, {"support": QUEUE}, None, "/x/demo.toml")


class Speaker:
    """A fake espeak whose wav carries the text it was asked to say (as real audio carries
    it as sound), so a number spoken in a text shows up in the file's content."""

    def __init__(self) -> None:
        self.spoken: list[str] = []

    async def __call__(self, said: str, language: str) -> bytes:
        self.spoken.append(said)
        data = said.encode()
        return pcm_to_wav(data + b"\0" * (len(data) % 2))


async def capture(tmp_path: Path, prompts: PromptRenderer) -> list[CaseEvent]:
    """A caller in the queue asks for a callback and confirms their own number."""
    events: list[CaseEvent] = []

    class Sink:
        def emit(self, event: CaseEvent) -> None:
            events.append(event)

        async def durable(self, case_id: uuid.UUID) -> bool:
            return True

    store = AudioStore(tmp_path / "store")
    spool = tmp_path / "spool"
    spool.mkdir()
    restrictions = RestrictedNumbers()
    voicemail = VoicemailFlow(
        prompts, Finaliser(store, spool), Sink(), lambda: T0, restrictions=restrictions
    )
    flow = CallbackFlow(prompts, Sink(), lambda: T0, voicemail=voicemail, restrictions=restrictions)

    class Wrapper:
        name = "cb"

        async def run(self, call: Call, tenant: str) -> None:
            await flow.run(call, CaseContext(uuid.uuid4(), FLOWS), QUEUE)

    fake = FakeAri(default_duration=0.01)
    fake.attach(Dispatcher(fake, FlowRouter({"cb": Wrapper()}).handle, app="linja"))
    fake.start_call("c1", args=["cb", "demo"], caller="040 123 4567")
    await fake.wait_until(lambda: any(m.startswith("sound:") for m in fake.media_played("c1")))
    await asyncio.sleep(0.05)
    fake.dtmf("c1", "1")
    await fake.wait_calls_done()
    return events


async def agent_hears_the_number(world: World) -> list[str]:
    """The dialer rings the agent, who hears whom is called back; then the customer."""
    a = world.controller()
    world.store.add(CUSTOMER, T0)
    a.coord.login("agent1")
    async with world.running(a):
        agent = await world.answer_agent("agent1")
        await world.rung("PJSIP/customers/")
        return world.heard(agent)


async def test_callers_phone_numbers_are_not_stored_as_spoken_audio(tmp_path: Path) -> None:
    sounds = tmp_path / "sounds"
    speaker = Speaker()
    prompts = PromptRenderer(sounds, "/sounds", speak=speaker)

    events = await capture(tmp_path, prompts)
    (request,) = [e for e in events if isinstance(e, ContactRequested)]
    assert request.callback_number == CALLER  # the capture did take the number

    world = World(tmp_path / "dialer")
    world.prompts = prompts
    heard = await agent_hears_the_number(world)

    assert any(sounds.iterdir())  # the texts around the number were rendered and cached
    found = traces(sounds, CALLER, speaker.spoken) + traces(sounds, CUSTOMER, speaker.spoken)
    assert found == []
    assert not any(f in t for t in speaker.spoken for f in spellings(CALLER) | spellings(CUSTOMER))
    assert len(heard) > 1  # the agent heard a sentence and the number's digits
