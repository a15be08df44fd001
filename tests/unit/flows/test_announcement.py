"""The bulletin flow against FakeAri: what it plays, what it counts, how it ends."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from ivr.ari.dispatcher import Dispatcher
from ivr.ari.errors import ChannelGone
from ivr.bulletins.state import NumberState, Prepared
from ivr.flows.announcement import (
    FALLBACK_CONTEXT,
    FALLBACK_LABEL,
    NOT_IN_SERVICE,
    AnnouncementFlow,
)
from ivr.flows.router import FlowRouter
from tests.unit.fake_ari import FakeAri

T0 = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
NUMBER_ID = uuid.UUID(int=100)


def prepared(name: str, bid: uuid.UUID, start: datetime, end: datetime | None = None) -> Prepared:
    return Prepared(bid, f"sound:/var/lib/linja/sounds/{name}", 1.0, start, end)


class Source:
    def __init__(self, *bulletins: Prepared) -> None:
        self.st = NumberState(
            NUMBER_ID,
            "100",
            "demo",
            "fi",
            prepared("nodis", uuid.UUID(int=0), T0 - timedelta(days=1)),
            tuple(bulletins),
        )

    def state(self, number: str) -> NumberState | None:
        return self.st if number == "100" else None


class Counter:
    def __init__(self) -> None:
        self.counted: list[tuple[uuid.UUID, list[uuid.UUID | None]]] = []

    def count(self, number_id: uuid.UUID, bulletin_ids: object) -> None:
        self.counted.append((number_id, list(bulletin_ids)))  # type: ignore[call-overload]


def setup(source: Source, **fake_kw: object) -> tuple[FakeAri, Counter]:
    fake = FakeAri(**fake_kw)  # type: ignore[arg-type]
    counter = Counter()
    flow = AnnouncementFlow(source, counter, lambda: T0)
    fake.attach(Dispatcher(fake, FlowRouter({"announcement": flow}).handle, app="linja"))
    return fake, counter


async def test_plays_active_bulletins_in_order_then_hangs_up() -> None:
    a, b, later = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    source = Source(
        prepared("a", a, T0 - timedelta(hours=2)),
        prepared("b", b, T0 - timedelta(hours=1), T0 + timedelta(hours=1)),
        prepared("later", later, T0 + timedelta(hours=1)),
    )
    fake, counter = setup(source)
    fake.start_call("c1", args=["announcement", "demo"], exten="100")
    await fake.wait_calls_done()
    assert fake.media_played("c1") == [
        "sound:/var/lib/linja/sounds/a",
        "sound:/var/lib/linja/sounds/b",
    ]
    methods = [(m, p.split("/")[-1] if m == "DELETE" else p) for m, p, _, _ in fake.requests]
    assert methods[0] == ("POST", "/channels/c1/answer")
    assert methods[-1] == ("DELETE", "c1")
    assert counter.counted == [(NUMBER_ID, [a, b])]


async def test_no_active_bulletin_plays_the_no_disruptions_prompt() -> None:
    fake, counter = setup(
        Source(prepared("old", uuid.uuid4(), T0 - timedelta(days=2), T0 - timedelta(days=1)))
    )
    fake.start_call("c1", args=["announcement", "demo"], exten="100")
    await fake.wait_calls_done()
    assert fake.media_played("c1") == ["sound:/var/lib/linja/sounds/nodis"]
    assert counter.counted == [(NUMBER_ID, [None])]


async def test_unknown_number_plays_not_in_service_and_counts_nothing() -> None:
    fake, counter = setup(Source())
    fake.start_call("c1", args=["announcement", "demo"], exten="555")
    await fake.wait_calls_done()
    assert fake.media_played("c1") == [NOT_IN_SERVICE]
    assert counter.counted == []


async def test_caller_hanging_up_mid_bulletin_ends_the_flow_quietly(caplog: object) -> None:
    source = Source(prepared("a", uuid.uuid4(), T0 - timedelta(hours=1)))
    fake, counter = setup(source, hold_playbacks=True)
    fake.start_call("c1", args=["announcement", "demo"], exten="100")
    await fake.wait_until(lambda: fake.held_playbacks("c1"))
    fake.hangup("c1")
    await fake.wait_calls_done()
    assert len(counter.counted) == 1
    records = caplog.records  # type: ignore[attr-defined]
    assert not [r for r in records if r.levelname in ("ERROR", "CRITICAL")]


async def test_bad_stasis_arguments_hang_up_without_playing() -> None:
    fake, _ = setup(Source())
    fake.start_call("c1", args=["nonsense"], exten="100")
    fake.start_call("c2", args=["nosuchflow", "demo"], exten="100")
    await fake.wait_calls_done()
    assert fake.media_played() == []
    assert {p for m, p, _, _ in fake.requests if m == "DELETE"} == {"/channels/c1", "/channels/c2"}


class Fallbacks:
    """The fallback files the flow may hand a call to: number -> the media each holds."""

    def __init__(self, **files: list[str]) -> None:
        self.files = files

    def fallback_plays(self, number: str, media: Sequence[str]) -> bool:
        return self.files.get(number) == list(media)


def lean_setup(source: Source, fallbacks: Fallbacks) -> tuple[FakeAri, Counter]:
    fake = FakeAri()
    counter = Counter()
    flow = AnnouncementFlow(source, counter, lambda: T0, fallback=fallbacks)
    fake.attach(Dispatcher(fake, FlowRouter({"announcement": flow}).handle, app="linja"))
    return fake, counter


def media(*names: str) -> list[str]:
    return [f"sound:/var/lib/linja/sounds/{n}" for n in names]


async def test_lean_path_counts_and_hands_the_call_to_its_fallback_file_in_one_request() -> None:
    a, b = uuid.uuid4(), uuid.uuid4()
    source = Source(
        prepared("a", a, T0 - timedelta(hours=2)), prepared("b", b, T0 - timedelta(hours=1))
    )
    fake, counter = lean_setup(source, Fallbacks(**{"100": media("a", "b")}))
    fake.start_call("c1", args=["announcement", "demo"], exten="100")
    await fake.wait_calls_done()
    assert fake.requests == [
        (
            "POST",
            "/channels/c1/continue",
            {"context": FALLBACK_CONTEXT, "extension": "100", "label": FALLBACK_LABEL},
            None,
        )
    ]
    assert counter.counted == [(NUMBER_ID, [a, b])]


async def test_lean_path_with_no_disruptions_hands_over_the_no_disruptions_file() -> None:
    fake, counter = lean_setup(Source(), Fallbacks(**{"100": media("nodis")}))
    fake.start_call("c1", args=["announcement", "demo"], exten="100")
    await fake.wait_calls_done()
    assert [p for _, p, _, _ in fake.requests] == ["/channels/c1/continue"]
    assert counter.counted == [(NUMBER_ID, [None])]


async def test_stale_fallback_file_plays_through_ari_what_is_in_force() -> None:
    # A bulletin has just started: the file still holds the "no disruptions" prompt.
    a = uuid.uuid4()
    source = Source(prepared("a", a, T0 - timedelta(seconds=1)))
    fake, counter = lean_setup(source, Fallbacks(**{"100": media("nodis")}))
    fake.start_call("c1", args=["announcement", "demo"], exten="100")
    await fake.wait_calls_done()
    assert fake.requests_to("POST", "/channels/c1/continue") == []
    assert fake.media_played("c1") == media("a")
    assert counter.counted == [(NUMBER_ID, [a])]


async def test_missing_fallback_file_plays_through_ari() -> None:
    fake, counter = lean_setup(Source(), Fallbacks())
    fake.start_call("c1", args=["announcement", "demo"], exten="100")
    await fake.wait_calls_done()
    assert fake.requests_to("POST", "/channels/c1/continue") == []
    assert fake.media_played("c1") == media("nodis")
    assert counter.counted == [(NUMBER_ID, [None])]


async def test_dialplan_without_the_label_falls_back_to_ari_and_counts_once() -> None:
    fake, counter = lean_setup(Source(), Fallbacks(**{"100": media("nodis")}))
    fake.set_response(
        "POST", "/channels/c1/continue", ChannelGone(404, "POST", "/channels/c1/continue")
    )
    fake.start_call("c1", args=["announcement", "demo"], exten="100")
    await fake.wait_calls_done()
    paths = [(m, p) for m, p, _, _ in fake.requests]
    assert paths[:2] == [("POST", "/channels/c1/continue"), ("POST", "/channels/c1/answer")]
    assert fake.media_played("c1") == media("nodis")
    assert ("DELETE", "/channels/c1") in paths
    assert counter.counted == [(NUMBER_ID, [None])]


async def test_lean_path_keeps_not_in_service_for_a_number_without_the_service() -> None:
    fake, counter = lean_setup(Source(), Fallbacks(**{"555": media("nodis")}))
    fake.start_call("c1", args=["announcement", "demo"], exten="555")
    await fake.wait_calls_done()
    assert fake.requests_to("POST", "/channels/c1/continue") == []
    assert fake.media_played("c1") == [NOT_IN_SERVICE]
    assert counter.counted == []
