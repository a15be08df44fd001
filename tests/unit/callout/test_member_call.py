"""One member call of a call-out against FakeAri: the message and options, the keys (1, 2,
star to repeat), the PIN, busy / no answer / no key, and the polite end when the call-out
ends mid-call. A decision is stored before the member hears the thanks."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import datetime
from pathlib import Path

import pytest

from ivr.ari.dispatcher import Dispatcher
from ivr.callout.call import CallResult, CallSpec, MemberCall
from ivr.callout.policy import AttemptOutcome
from ivr.flows.router import FlowRouter
from ivr.prompts import PromptRenderer
from ivr.telephony.ringing import Originator
from ivr.texts import Text, text
from tests.unit.callbacks.spoken import heard
from tests.unit.callcenter.util import FakeClock
from tests.unit.fake_ari import FakeAri
from tests.unit.flows.support_recording import fake_speak

MESSAGE = "Vesijohtovuoto Keskustassa."
NUMBER = "+358401600001"
TRUNK = "127.0.0.1:5070"


class World:
    def __init__(self, tmp_path: Path, *, pin_ok: str = "4321") -> None:
        self.fake = FakeAri(default_duration=0.001)
        self.dispatcher = Dispatcher(self.fake, FlowRouter({}).handle, app="linja")
        self.fake.attach(self.dispatcher)
        self.prompts = PromptRenderer(tmp_path / "sounds", "/sounds", speak=fake_speak)
        self.clock = FakeClock()
        self.log: list[str] = []  # answered / decided / what was played, in order
        self.pins: list[str] = []

        async def check_pin(stored: str, typed: str) -> bool:
            self.pins.append(typed)
            return stored == "hash" and typed == pin_ok

        self.call = MemberCall(
            Originator(self.fake, self.dispatcher.adopt, self.dispatcher.release, "linja"),
            self.prompts,
            check_pin,
            self.clock,
            TRUNK,
            key_timeout=0.2,
            plays=2,
            goodbye_timeout=1.0,
        )

    def spec(self, *, ring: float = 1.0, pin: bool = False) -> CallSpec:
        return CallSpec(
            channel_id="co-1",
            number=NUMBER,
            message=MESSAGE,
            tenant="demo",
            language="fi",
            ring_seconds=ring,
            pin_hash="hash" if pin else None,
            tag="test",
        )

    def start(self, spec: CallSpec) -> asyncio.Task[CallResult]:
        async def answered(at: datetime) -> None:
            self.log.append("answered")

        async def decided(outcome: AttemptOutcome, key: str) -> None:
            self.log.append(f"decided {outcome} {key} after {len(self.heard())} prompts")

        return asyncio.create_task(self.call.run(spec, answered, decided))

    async def dialled(self) -> None:
        await self.fake.wait_until(lambda: "co-1" in self.fake.channels)

    async def answer(self, amd: str = "HUMAN") -> None:
        """The member answers; AMD in the dialplan says ``amd`` and hands the leg back."""
        await self.dialled()
        self.fake.start_call("co-1", args=["callout-member", "demo"])
        await self.fake.wait_until(lambda: self.fake.requests_to("POST", "/channels/co-1/continue"))
        self.fake.start_call("co-1", args=["callout-member", "demo", "amd", amd, f"{amd}-1-1"])

    async def heard_options(self, times: int = 1) -> None:
        options = text(Text.CALLOUT_OPTIONS, "fi")
        await self.fake.wait_until(lambda: self.heard().count(options) >= times)

    def heard(self) -> list[str]:
        return heard(self.fake.media_played("co-1"), texts=(MESSAGE,))

    def hung_up(self) -> bool:
        return bool(self.fake.requests_to("DELETE", "/channels/co-1"))


def endpoint(w: World) -> str:
    (p,) = [p for m, path, p, _ in w.fake.requests if m == "POST" and path == "/channels"]
    assert p is not None
    return str(p["endpoint"])


async def test_member_presses_1_and_the_confirmation_is_stored_before_the_thanks(
    tmp_path: Path,
) -> None:
    w = World(tmp_path)
    task = w.start(w.spec())
    await w.answer()
    await w.heard_options()
    w.fake.dtmf("co-1", "1")
    result = await asyncio.wait_for(task, 2)
    assert result.outcome is AttemptOutcome.CONFIRMED and result.key == "1"
    assert result.answered_at is not None
    assert endpoint(w) == f"PJSIP/customers/sip:{NUMBER}@{TRUNK}"
    said = w.heard()
    assert said == [
        text(Text.CALLOUT_INTRO, "fi"),
        MESSAGE,
        text(Text.CALLOUT_OPTIONS, "fi"),
        text(Text.CALLOUT_CONFIRMED, "fi"),
    ]
    assert w.log == ["answered", "decided confirmed 1 after 3 prompts"]  # before the thanks
    assert w.hung_up()


async def test_member_presses_2_is_declined(tmp_path: Path) -> None:
    w = World(tmp_path)
    task = w.start(w.spec())
    await w.answer()
    await w.heard_options()
    w.fake.dtmf("co-1", "2")
    result = await asyncio.wait_for(task, 2)
    assert result.outcome is AttemptOutcome.DECLINED
    assert w.heard()[-1] == text(Text.CALLOUT_DECLINED, "fi")


async def test_star_repeats_the_message(tmp_path: Path) -> None:
    w = World(tmp_path)
    task = w.start(w.spec())
    await w.answer()
    await w.heard_options()
    w.fake.dtmf("co-1", "*")
    await w.heard_options(2)
    w.fake.dtmf("co-1", "1")
    result = await asyncio.wait_for(task, 2)
    assert result.outcome is AttemptOutcome.CONFIRMED
    assert w.heard().count(MESSAGE) == 2


async def test_no_key_after_every_play_is_not_reached(tmp_path: Path) -> None:
    w = World(tmp_path)
    task = w.start(w.spec())
    await w.answer()
    result = await asyncio.wait_for(task, 3)
    assert result.outcome is AttemptOutcome.NO_KEY and result.key is None
    assert w.heard().count(MESSAGE) == 2  # plays=2
    assert w.log == ["answered"]  # nothing decided
    assert w.hung_up()


async def test_hanging_up_without_a_key_is_not_reached(tmp_path: Path) -> None:
    w = World(tmp_path)
    task = w.start(w.spec())
    await w.answer()
    await w.heard_options()
    w.fake.hangup("co-1")
    result = await asyncio.wait_for(task, 2)
    assert result.outcome is AttemptOutcome.NO_KEY and result.answered_at is not None


@pytest.mark.parametrize(
    ("cause", "outcome"), [(17, AttemptOutcome.BUSY), (34, AttemptOutcome.FAILED)]
)
async def test_busy_or_failed_before_answer(
    tmp_path: Path, cause: int, outcome: AttemptOutcome
) -> None:
    w = World(tmp_path)
    task = w.start(w.spec())
    await w.dialled()
    w.fake.hangup("co-1", cause=cause)
    result = await asyncio.wait_for(task, 2)
    assert result.outcome is outcome and result.answered_at is None
    assert w.log == [] and w.heard() == []


async def test_no_answer_within_the_ring_time_hangs_the_leg_up(tmp_path: Path) -> None:
    w = World(tmp_path)
    task = w.start(w.spec(ring=0.2))
    result = await asyncio.wait_for(task, 2)
    assert result.outcome is AttemptOutcome.NO_ANSWER
    assert w.hung_up()


async def test_the_pin_is_asked_first_and_three_wrong_ones_end_the_call(tmp_path: Path) -> None:
    w = World(tmp_path)
    task = w.start(w.spec(pin=True))
    await w.answer()
    pin = text(Text.CALLOUT_PIN, "fi")
    for n in range(1, 4):
        await w.fake.wait_until(lambda n=n: w.heard().count(pin) >= n)  # type: ignore[misc]
        w.fake.dtmf("co-1", "1111#")
    result = await asyncio.wait_for(task, 2)
    assert result.outcome is AttemptOutcome.WRONG_PIN
    assert w.pins == ["1111"] * 3
    assert MESSAGE not in w.heard()  # the message only after the right PIN


async def test_the_right_pin_then_the_message(tmp_path: Path) -> None:
    w = World(tmp_path)
    task = w.start(w.spec(pin=True))
    await w.answer()
    pin = text(Text.CALLOUT_PIN, "fi")
    await w.fake.wait_until(lambda: pin in w.heard())
    w.fake.dtmf("co-1", "4321#")
    await w.heard_options()
    w.fake.dtmf("co-1", "1")
    result = await asyncio.wait_for(task, 2)
    assert result.outcome is AttemptOutcome.CONFIRMED
    assert w.heard()[:3] == [pin, text(Text.CALLOUT_INTRO, "fi"), MESSAGE]


async def test_ended_call_out_says_so_and_hangs_up(tmp_path: Path) -> None:
    w = World(tmp_path)
    task = w.start(w.spec())
    await w.answer()
    await w.heard_options()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert w.heard()[-1] == text(Text.CALLOUT_ENDED, "fi")
    assert w.hung_up()


async def test_an_uploaded_message_is_played_instead_of_the_text(tmp_path: Path) -> None:
    w = World(tmp_path)
    loads: list[int] = []

    async def load() -> bytes:
        loads.append(1)
        return await fake_speak("uploaded", "fi")

    spec = replace(w.spec(), audio_key="ab" * 32, audio=load)
    task = w.start(spec)
    await w.answer()
    await w.heard_options()
    w.fake.dtmf("co-1", "1")
    assert (await asyncio.wait_for(task, 2)).outcome is AttemptOutcome.CONFIRMED
    media = w.fake.media_played("co-1")
    assert media[1] == f"sound:/sounds/callout-{'ab' * 32}" and MESSAGE not in w.heard()
    assert (tmp_path / "sounds" / f"callout-{'ab' * 32}.wav").is_file() and loads == [1]


async def test_answering_machine_hears_the_message_after_its_greeting_and_is_not_reached(
    tmp_path: Path,
) -> None:
    w = World(tmp_path)
    task = w.start(w.spec())
    await w.answer(amd="MACHINE")
    result = await asyncio.wait_for(task, 2)
    assert result.outcome is AttemptOutcome.MACHINE and result.key is None
    assert result.answered_at is not None
    assert w.heard() == [text(Text.CALLOUT_INTRO, "fi"), MESSAGE]  # once, no options
    assert w.log == ["answered"]  # nothing decided
    assert w.hung_up()


async def test_the_answered_leg_runs_amd_in_the_dialplan_before_the_message(
    tmp_path: Path,
) -> None:
    w = World(tmp_path)
    task = w.start(w.spec())
    await w.dialled()
    (body,) = [b for m, path, _, b in w.fake.requests if m == "POST" and path == "/channels"]
    assert body == {"variables": {"LINJA_APP": "linja", "LINJA_TENANT": "demo"}}
    w.fake.start_call("co-1", args=["callout-member", "demo"])
    await w.fake.wait_until(lambda: w.fake.requests_to("POST", "/channels/co-1/continue"))
    (cont,) = w.fake.requests_to("POST", "/channels/co-1/continue")
    assert cont[2] == {"context": "linja-callout", "extension": "amd", "priority": 1}
    await asyncio.sleep(0.05)
    assert w.heard() == []  # nothing is played before AMD's verdict
    w.fake.start_call("co-1", args=["callout-member", "demo", "amd", "NOTSURE", "TOOLONG-5000"])
    await w.heard_options()
    w.fake.dtmf("co-1", "1")
    result = await asyncio.wait_for(task, 2)
    assert result.outcome is AttemptOutcome.CONFIRMED  # not sure: a person, who pressed 1


async def test_hanging_up_during_the_detection_is_not_reached(tmp_path: Path) -> None:
    w = World(tmp_path)
    task = w.start(w.spec())
    await w.dialled()
    w.fake.start_call("co-1", args=["callout-member", "demo"])
    await w.fake.wait_until(lambda: w.fake.requests_to("POST", "/channels/co-1/continue"))
    await asyncio.sleep(0.05)  # the StasisEnd of the detour came and went: still our call
    w.fake.hangup("co-1")
    result = await asyncio.wait_for(task, 2)
    assert result.outcome is AttemptOutcome.NO_KEY and result.answered_at is not None
    assert w.heard() == []


async def test_item4_a_call_out_ending_during_the_detection_tells_the_member_once_back(
    tmp_path: Path,
) -> None:
    """Issue 16 item 4: the call-out ends while the answered leg is in AMD (in the dialplan,
    where nothing can be played to it): the member is told it has ended once the leg is
    back from the detection, then hung up."""
    w = World(tmp_path)
    task = w.start(w.spec())
    await w.dialled()
    w.fake.start_call("co-1", args=["callout-member", "demo"])
    await w.fake.wait_until(lambda: w.fake.requests_to("POST", "/channels/co-1/continue"))
    await asyncio.sleep(0.05)
    task.cancel()  # the call-out ended
    await asyncio.sleep(0.1)
    assert not w.hung_up()  # not cut off mid-detection: waiting for the leg to come back
    w.fake.start_call("co-1", args=["callout-member", "demo", "amd", "HUMAN", "HUMAN-1-1"])
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(task, 3)
    assert w.heard() == [text(Text.CALLOUT_ENDED, "fi")]
    assert w.hung_up()


async def test_item4_a_detection_that_does_not_come_back_in_time_is_hung_up(
    tmp_path: Path,
) -> None:
    w = World(tmp_path)  # goodbye_timeout 1 s
    task = w.start(w.spec())
    await w.dialled()
    w.fake.start_call("co-1", args=["callout-member", "demo"])
    await w.fake.wait_until(lambda: w.fake.requests_to("POST", "/channels/co-1/continue"))
    task.cancel()  # a machine's greeting goes on: no verdict within the goodbye time
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(task, 3)
    assert w.heard() == []
    assert w.hung_up()
