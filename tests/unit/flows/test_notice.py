"""The recording notice against FakeAri: played at the start of a call to a recorded number,
in the tenant's language or its own prompt, finished before anything else happens, and its
end time is when PlaybackFinished arrived."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from ivr.ari.call import Call
from ivr.ari.dispatcher import Dispatcher
from ivr.ari.errors import CallHungUp
from ivr.flowdefs.model import RecordingConfig
from ivr.flows.context import CaseContext
from ivr.texts import Text, text
from storage.events import CaseEnded, Outcome
from tests.unit.flows.support_recording import T0, TENANT, World, tenant_flows, world


async def test_recorded_number_hears_the_notice_before_the_menu(tmp_path: Path) -> None:
    w = await world(tmp_path, tenant_flows(tmp_path))
    w.fake.start_call("c1", args=["menu", "acme"], exten="201")
    await w.fake.wait_until(lambda: "sound:welcome" in w.fake.media_played("c1"))
    w.fake.hangup("c1")
    await w.fake.wait_calls_done()
    assert w.fake.media_played("c1")[:2] == [
        w.notice_media(text(Text.RECORDING_NOTICE, "fi")),
        "sound:welcome",
    ]


async def test_other_numbers_hear_no_notice(tmp_path: Path) -> None:
    w = await world(tmp_path, tenant_flows(tmp_path))
    w.fake.start_call("c1", args=["menu", "acme"], exten="200")
    await w.fake.wait_until(lambda: "sound:welcome" in w.fake.media_played("c1"))
    w.fake.hangup("c1")
    await w.fake.wait_calls_done()
    assert w.fake.media_played("c1")[0] == "sound:welcome"


async def test_tenant_prompt_and_language(tmp_path: Path) -> None:
    own = tenant_flows(tmp_path, recording=RecordingConfig(notice="own_notice", numbers=("201",)))
    w = await world(tmp_path, own)
    assert await w.notice.media(CaseContext(TENANT, own)) == "sound:own-notice"
    swedish = tenant_flows(tmp_path, language="sv")
    assert await w.notice.media(CaseContext(TENANT, swedish)) == w.notice_media(
        text(Text.RECORDING_NOTICE, "sv"), "sv"
    )


async def notice_only(tmp_path: Path, ctx: CaseContext, outcome: list[str]) -> World:
    """A call whose whole flow is the notice (twice), playbacks held until finished."""
    w = await world(tmp_path, ctx.flows, hold_playbacks=True)

    async def handle(call: Call) -> None:
        try:
            await w.notice.play(call, ctx)
            await w.notice.play(call, ctx)  # heard once per case
            outcome.append("played")
        except CallHungUp:
            outcome.append("hung up")
            raise

    w.fake.attach(Dispatcher(w.fake, handle, app="linja"))
    return w


async def test_notice_time_is_taken_when_the_playback_finished(tmp_path: Path) -> None:
    ctx = CaseContext(TENANT, tenant_flows(tmp_path))
    outcome: list[str] = []
    w = await notice_only(tmp_path, ctx, outcome)
    w.fake.start_call("c1", args=["x"])
    await w.fake.wait_until(lambda: w.fake.held_playbacks("c1"))
    w.clock.advance(4.2)
    assert ctx.notice_played_at is None  # still playing
    w.fake.finish_playback(channel_id="c1")
    await w.fake.wait_calls_done()
    assert outcome == ["played"]
    assert ctx.notice_played_at == T0 + timedelta(seconds=4.2)
    assert len(w.fake.media_played("c1")) == 1  # not played twice


async def test_hang_up_during_the_notice(tmp_path: Path) -> None:
    ctx = CaseContext(TENANT, tenant_flows(tmp_path))
    outcome: list[str] = []
    w = await notice_only(tmp_path, ctx, outcome)
    w.fake.start_call("c1", args=["x"])
    await w.fake.wait_until(lambda: w.fake.held_playbacks("c1"))
    w.fake.hangup("c1")
    await w.fake.wait_calls_done()
    assert outcome == ["hung up"]
    assert ctx.notice_played_at is None


async def test_menu_case_ends_abandoned_when_the_caller_leaves_during_the_notice(
    tmp_path: Path,
) -> None:
    w = await world(tmp_path, tenant_flows(tmp_path), hold_playbacks=True)
    w.fake.start_call("c1", args=["menu", "acme"], exten="201")
    await w.fake.wait_until(lambda: w.fake.held_playbacks("c1"))
    w.fake.hangup("c1")
    await w.fake.wait_calls_done()
    (ended,) = w.sink.of(CaseEnded)
    assert ended.outcome == Outcome.ABANDONED
    assert w.fake.media_played("c1") == [w.notice_media(text(Text.RECORDING_NOTICE, "fi"))]
