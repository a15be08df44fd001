"""Callback capture against FakeAri: confirming the caller's number, keying another one,
garbage input, a hang-up before confirming (no request), and the optional voice message."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

from ivr.ari.call import Call
from ivr.ari.dispatcher import Dispatcher
from ivr.audio import pcm_to_wav, tts_key
from ivr.flowdefs.model import CallbackConfig, CallbackNumbers, Queue, Target, TenantFlows
from ivr.flows.callback import CallbackFlow
from ivr.flows.context import CaseContext
from ivr.flows.router import FlowRouter
from ivr.flows.voicemail import VoicemailFlow
from ivr.prompts import PromptRenderer
from ivr.texts import CATALOGUE, Text, around, text
from recording.finalise import Finaliser
from recording.store import AudioStore
from storage.events import (
    AudioStatus,
    CaseEvent,
    ContactRequested,
    QueueLeft,
    VoiceMessageSaved,
)
from tests.unit.callbacks.spoken import heard
from tests.unit.fake_ari import FakeAri
from tests.unit.flows.support_recording import RestrictedNumbers, wav

T0 = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
PLACE = T0 - timedelta(minutes=3)
QUEUE = Queue("support", ("agent1",))
WITH_MESSAGE = replace(QUEUE, callback=CallbackConfig(message=True))
FLOWS = TenantFlows("demo", "fi", "main", {}, {}, {"support": QUEUE}, None, "/x/demo.toml")


class Harness:
    def __init__(
        self,
        tmp_path: Path,
        *,
        from_queue: bool = True,
        queue: Queue = QUEUE,
        restrictions: RestrictedNumbers | None = None,
        flows: TenantFlows = FLOWS,
    ) -> None:
        self.events: list[CaseEvent] = []
        self.spoken: list[str] = []
        self.results: list[Target | None] = []
        self.notified = 0
        self.ctx = CaseContext(uuid.uuid4(), flows)
        self.durable_asked: list[uuid.UUID] = []
        self.keeping = asyncio.Event()
        self.keeping.set()
        self.kept = True

        async def speak(text: str, lang: str) -> bytes:
            self.spoken.append(text)
            return pcm_to_wav(b"\0\0" * 80)

        prompts = PromptRenderer(tmp_path, "/sounds", speak=speak)
        self.spool = tmp_path / "spool"
        self.spool.mkdir()
        self.store = AudioStore(tmp_path / "store")
        voicemail = VoicemailFlow(
            prompts,
            Finaliser(self.store, self.spool),
            self,
            lambda: T0,
            restrictions=restrictions or RestrictedNumbers(),
        )
        self.flow = CallbackFlow(
            prompts,
            self,
            lambda: T0,
            on_request=self._notify,
            voicemail=voicemail,
            restrictions=restrictions or RestrictedNumbers(),
        )
        harness = self

        class Wrapper:
            name = "cb"

            async def run(self, call: Call, tenant: str) -> None:
                place = PLACE if from_queue else None
                harness.results.append(
                    await harness.flow.run(call, harness.ctx, queue, place=place)
                )

        self.fake = FakeAri(default_duration=0.01)
        self.fake.attach(Dispatcher(self.fake, FlowRouter({"cb": Wrapper()}).handle, app="linja"))

    def emit(self, event: CaseEvent) -> None:
        self.events.append(event)

    async def durable(self, case_id: uuid.UUID) -> bool:
        """The recorder's answer: kept once ``self.keeping`` is set, with ``self.kept``."""
        self.durable_asked.append(case_id)
        await self.keeping.wait()
        return self.kept

    def _notify(self) -> None:
        self.notified += 1

    async def said(self, key: Text, times: int = 1) -> None:
        """Waits until the prompt ``key`` has been played ``times`` times to the call."""
        prefix = CATALOGUE[key]["fi"].split("{")[0].strip()

        def count() -> int:
            media = {
                f"sound:/sounds/{part}{tts_key(t, 'fi')}"
                for t in self.spoken
                if t.startswith(prefix)
                for part in ("", "part-")  # the text before a number is a trimmed part
            }
            return sum(m in media for m in self.fake.media_played())

        await self.fake.wait_until(lambda: count() >= times)
        await asyncio.sleep(0.05)

    def number_heard(self, channel: str) -> str:
        """The number read back last on ``channel``, as heard: "040,123,4567"."""
        before, after = around(Text.CALLBACK_CONFIRM, "fi", "digits")
        said = heard(self.fake.media_played(channel), texts=(before, after))
        start = len(said) - said[::-1].index(before)
        return "".join(said[start : said.index(after, start)])

    def requests(self) -> list[ContactRequested]:
        return [e for e in self.events if isinstance(e, ContactRequested)]


async def test_caller_confirms_their_own_number(tmp_path: Path) -> None:
    h = Harness(tmp_path)
    h.fake.start_call("c1", args=["cb", "demo"], caller="040 123 4567")
    await h.said(Text.CALLBACK_CONFIRM)
    assert h.number_heard("c1") == "040,123,4567"  # read back digit by digit
    h.fake.dtmf("c1", "1")
    await h.fake.wait_calls_done()
    (req,) = h.requests()
    assert req.callback_number == "+358401234567"
    assert req.queue == "support" and req.queue_entered_at == PLACE and req.at == T0
    # the queue flow records the exit, at the key press (tests/unit/flows/test_queue_exits.py)
    assert not any(isinstance(e, QueueLeft) for e in h.events)
    assert h.ctx.outcome == "callback_requested" and h.notified == 1
    assert h.results == [None]
    assert any(t.startswith("Kiitos") for t in h.spoken)
    assert text(Text.CALLBACK_OFFER_MESSAGE, "fi") not in h.spoken  # the queue offers no message
    assert h.fake.requests_to("DELETE", "/channels/c1")  # hung up after the confirmation


async def test_i17_7_the_caller_hears_the_confirmation_only_once_the_request_is_kept(
    tmp_path: Path,
) -> None:
    h = Harness(tmp_path)
    h.keeping.clear()  # the recorder has not written the request yet
    h.fake.start_call("c7", args=["cb", "demo"], caller="040 123 4567")
    await h.said(Text.CALLBACK_CONFIRM)
    h.fake.dtmf("c7", "1")
    await h.fake.wait_until(lambda: h.durable_asked == [h.ctx.case_id])
    await asyncio.sleep(0.2)
    assert len(h.requests()) == 1  # handed over ...
    assert not any(t.startswith("Kiitos") for t in h.spoken)  # ... but not yet confirmed
    h.keeping.set()
    await h.fake.wait_calls_done()
    assert any(t.startswith("Kiitos") for t in h.spoken)


async def test_i17_7_a_request_that_cannot_be_kept_is_not_confirmed(tmp_path: Path) -> None:
    h = Harness(tmp_path)
    h.kept = False  # neither Postgres nor the spool took it
    h.fake.start_call("c8", args=["cb", "demo"], caller="040 123 4567")
    await h.said(Text.CALLBACK_CONFIRM)
    h.fake.dtmf("c8", "1")
    await h.fake.wait_calls_done()
    assert text(Text.CALLBACK_NOT_KEPT, "fi") in h.spoken
    assert not any(t.startswith("Kiitos") for t in h.spoken)
    assert h.fake.requests_to("DELETE", "/channels/c8")


async def test_anonymous_caller_keys_a_number_after_garbage(tmp_path: Path) -> None:
    h = Harness(tmp_path, from_queue=False)
    h.fake.start_call("c2", args=["cb", "demo"], caller="anonymous")
    await h.said(Text.CALLBACK_KEY)
    h.fake.dtmf("c2", "12345#")  # not a Finnish number
    await h.said(Text.CALLBACK_KEY, times=2)
    h.fake.dtmf("c2", "0501234567#")
    await h.said(Text.CALLBACK_CONFIRM)
    assert h.number_heard("c2") == "050,123,4567"
    h.fake.dtmf("c2", "1")
    await h.fake.wait_calls_done()
    (req,) = h.requests()
    assert req.callback_number == "+358501234567"
    assert req.queue_entered_at == T0  # from a menu: its place is the request time
    assert not any(isinstance(e, QueueLeft) for e in h.events)


async def test_caller_may_key_another_number_with_2(tmp_path: Path) -> None:
    h = Harness(tmp_path)
    h.fake.start_call("c3", args=["cb", "demo"], caller="0401234567")
    await h.said(Text.CALLBACK_CONFIRM)
    h.fake.dtmf("c3", "2")
    await h.said(Text.CALLBACK_KEY)
    h.fake.dtmf("c3", "091234567#")
    await h.said(Text.CALLBACK_CONFIRM, times=2)
    h.fake.dtmf("c3", "1")
    await h.fake.wait_calls_done()
    (req,) = h.requests()
    assert req.callback_number == "+35891234567"


async def test_three_failures_leave_no_request(tmp_path: Path) -> None:
    h = Harness(tmp_path)
    h.fake.start_call("c4", args=["cb", "demo"], caller="112")
    for n in range(1, 4):
        await h.said(Text.CALLBACK_KEY, times=n)
        h.fake.dtmf("c4", "0600123#")  # premium rate: refused
    await h.fake.wait_calls_done()
    assert h.requests() == [] and h.ctx.outcome is None and h.notified == 0
    assert h.results == [Target("hangup", "goodbye")]


async def test_hang_up_before_confirming_stores_nothing(tmp_path: Path) -> None:
    h = Harness(tmp_path)
    h.fake.start_call("c5", args=["cb", "demo"], caller="0401234567")
    await h.said(Text.CALLBACK_CONFIRM)
    h.fake.hangup("c5")
    await h.fake.wait_calls_done()
    assert h.requests() == [] and h.ctx.outcome is None


async def test_caller_leaves_a_message_after_the_request_is_stored(tmp_path: Path) -> None:
    h = Harness(tmp_path, queue=WITH_MESSAGE)
    h.fake.start_call("c6", args=["cb", "demo"], caller="0401234567")
    await h.said(Text.CALLBACK_CONFIRM)
    h.fake.dtmf("c6", "1")
    await h.said(Text.CALLBACK_OFFER_MESSAGE)
    assert len(h.requests()) == 1  # already stored: a hang-up now loses nothing
    h.fake.dtmf("c6", "1")
    await h.fake.wait_until(lambda: h.fake.recordings)
    (name,) = h.fake.recordings
    (h.spool / f"{name}.wav").write_bytes(wav(2.5))
    h.fake.dtmf("c6", "#")
    h.fake.finish_recording(name)
    await h.fake.wait_calls_done()
    (msg,) = [e for e in h.events if isinstance(e, VoiceMessageSaved)]
    assert (msg.case_id, msg.box, msg.status) == (h.ctx.case_id, "support", AudioStatus.COMPLETED)
    assert h.store.path(msg.location).read_bytes() == wav(2.5)
    assert h.ctx.outcome == "callback_requested"
    assert any(t.startswith("Kiitos") for t in h.spoken)


async def test_a_caller_who_wants_no_message_just_hears_the_confirmation(tmp_path: Path) -> None:
    h = Harness(tmp_path, queue=WITH_MESSAGE)
    h.fake.start_call("c7", args=["cb", "demo"], caller="0401234567")
    await h.said(Text.CALLBACK_CONFIRM)
    h.fake.dtmf("c7", "1")
    await h.said(Text.CALLBACK_OFFER_MESSAGE)
    await h.fake.wait_calls_done()  # no key within the timeout
    assert len(h.requests()) == 1 and not h.fake.requests_to("POST", "/channels/c7/record")
    assert not [e for e in h.events if isinstance(e, VoiceMessageSaved)]
    assert any(t.startswith("Kiitos") for t in h.spoken)


async def test_a_restricted_number_gets_no_request_and_another_may_be_keyed(
    tmp_path: Path,
) -> None:
    """The caller's own number is restricted: they are told it cannot be called back and key
    another, which is taken; being restricted themselves, they are offered no message."""
    restrictions = RestrictedNumbers("+358401234567")
    h = Harness(tmp_path, queue=WITH_MESSAGE, restrictions=restrictions)
    h.fake.start_call("c8", args=["cb", "demo"], caller="0401234567")
    await h.said(Text.CALLBACK_CONFIRM)
    h.fake.dtmf("c8", "1")
    await h.said(Text.CALLBACK_RESTRICTED)
    assert h.requests() == []
    await h.said(Text.CALLBACK_KEY)
    h.fake.dtmf("c8", "0509876543#")
    await h.said(Text.CALLBACK_CONFIRM, times=2)
    h.fake.dtmf("c8", "1")
    await h.fake.wait_calls_done()
    (req,) = h.requests()
    assert req.callback_number == "+358509876543"
    assert not any(t.startswith(text(Text.CALLBACK_OFFER_MESSAGE, "fi")) for t in h.spoken)
    assert not h.fake.requests_to("POST", "/channels/c8/record")
    assert "0401234567" in restrictions.asked  # the caller, checked before any message
    assert any(t.startswith("Kiitos") for t in h.spoken)


async def test_when_restrictions_cannot_be_checked_the_request_is_taken(tmp_path: Path) -> None:
    h = Harness(tmp_path, restrictions=RestrictedNumbers(broken=True))
    h.fake.start_call("c9", args=["cb", "demo"], caller="0401234567")
    await h.said(Text.CALLBACK_CONFIRM)
    h.fake.dtmf("c9", "1")
    await h.fake.wait_calls_done()
    (req,) = h.requests()
    assert req.callback_number == "+358401234567"


async def test_callbacks_to_international_premium_rate_numbers_are_refused_at_capture(
    tmp_path: Path,
) -> None:
    """Issue 17 item 8: a premium-rate caller id is not offered for confirmation, keyed
    premium-rate and service numbers are refused like garbage; a mobile number is taken."""
    h = Harness(tmp_path, from_queue=False)
    h.fake.start_call("c9", args=["cb", "demo"], caller="+979123456789")
    await h.said(Text.CALLBACK_KEY)
    h.fake.dtmf("c9", "00449098790000#")  # UK premium rate
    await h.said(Text.CALLBACK_INVALID)
    await h.said(Text.CALLBACK_KEY, times=2)
    h.fake.dtmf("c9", "0201234567#")  # Finnish service number (UAN)
    await h.said(Text.CALLBACK_INVALID, times=2)
    await h.said(Text.CALLBACK_KEY, times=3)
    h.fake.dtmf("c9", "0401234567#")
    await h.said(Text.CALLBACK_CONFIRM)
    confirm = text(Text.CALLBACK_CONFIRM, "fi", digits="").split("{")[0][:10]
    assert sum(t.startswith(confirm) for t in h.spoken) == 1  # offered once
    h.fake.dtmf("c9", "1")
    await h.fake.wait_calls_done()
    assert [r.callback_number for r in h.requests()] == ["+358401234567"]


async def test_capture_follows_the_tenants_callback_allow_list(tmp_path: Path) -> None:
    nordic = replace(FLOWS, callbacks=CallbackNumbers(("FI", "SE"), ("mobile",)))
    h = Harness(tmp_path, flows=nordic)
    h.fake.start_call("c10", args=["cb", "demo"], caller="+46701234567")
    await h.said(Text.CALLBACK_CONFIRM)  # a Swedish mobile: offered
    h.fake.dtmf("c10", "1")
    await h.fake.wait_calls_done()
    assert [r.callback_number for r in h.requests()] == ["+46701234567"]
