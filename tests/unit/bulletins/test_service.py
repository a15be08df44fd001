from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from ivr.audio import wav_duration
from ivr.bulletins.service import BulletinService, Paths
from ivr.texts import Text, text
from tests.unit.bulletins.fakes import FakeSpeaker, FakeStore, tone

NO_DISRUPTIONS = text(Text.NO_DISRUPTIONS, "fi")

T0 = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def paths(tmp_path: Path) -> Paths:
    return Paths(tmp_path / "sounds", "/var/lib/linja/sounds", tmp_path / "fallback")


def make(store: FakeStore, paths: Paths, clock: Clock) -> tuple[BulletinService, FakeSpeaker]:
    speaker = FakeSpeaker()
    return BulletinService(store, paths, clock, speak=speaker), speaker


async def test_no_bulletin_means_the_no_disruptions_prompt(paths: Paths) -> None:
    store, clock = FakeStore(), Clock(T0)
    service, speaker = make(store, paths, clock)
    await service.refresh()
    state = service.state("100")
    assert state is not None and state.active(clock()) == []
    assert speaker.spoken == [(NO_DISRUPTIONS, "fi")]
    fallback = (paths.fallback_host / "100.wav").read_bytes()
    assert wav_duration(fallback) == pytest.approx(0.1 * len(NO_DISRUPTIONS))


async def test_active_bulletins_in_order_and_text_rendered_once(paths: Paths) -> None:
    store, clock = FakeStore(), Clock(T0)
    first = store.add("abcde", T0 - timedelta(hours=1))
    second = store.add("fghij", T0 - timedelta(minutes=5), audio=tone(2.0))
    store.add("future", T0 + timedelta(hours=1))
    service, speaker = make(store, paths, clock)
    await service.refresh()
    await service.refresh()
    state = service.state("100")
    assert state is not None
    active = state.active(clock())
    assert [p.bulletin_id for p in active] == [first.id, second.id]
    assert active[1].duration == pytest.approx(2.0)  # uploaded audio wins over text
    assert all(p.media.startswith("sound:/var/lib/linja/sounds/") for p in active)
    # text-to-speech is cached by content: one rendering per distinct text
    assert sorted(t for t, _ in speaker.spoken) == sorted(["abcde", "future", NO_DISRUPTIONS])
    fallback = wav_duration((paths.fallback_host / "100.wav").read_bytes())
    assert fallback == pytest.approx(0.5 + 0.5 + 2.0)  # both, with a 0.5 s gap


async def test_fallback_follows_the_validity_window(paths: Paths) -> None:
    store, clock = FakeStore(), Clock(T0)
    store.add("abcdefghij", T0 + timedelta(seconds=10), T0 + timedelta(seconds=20))
    service, _ = make(store, paths, clock)
    await service.refresh()
    fallback = paths.fallback_host / "100.wav"
    no_dis = wav_duration(fallback.read_bytes())
    assert service.next_boundary() == T0 + timedelta(seconds=10)
    clock.now = T0 + timedelta(seconds=11)
    service.write_fallbacks()
    assert wav_duration(fallback.read_bytes()) == pytest.approx(1.0)
    assert service.next_boundary() == T0 + timedelta(seconds=20)
    clock.now = T0 + timedelta(seconds=21)
    service.write_fallbacks()
    assert wav_duration(fallback.read_bytes()) == pytest.approx(no_dis)


async def test_manifest_serves_a_restart_while_the_database_is_down(paths: Paths) -> None:
    store, clock = FakeStore(), Clock(T0)
    b = store.add("abc", T0 - timedelta(minutes=1), T0 + timedelta(hours=1))
    service, _ = make(store, paths, clock)
    await service.refresh()

    store.fail = True
    restarted, _ = make(store, paths, clock)
    with pytest.raises(ConnectionRefusedError):
        await restarted.refresh()
    assert restarted.load_manifest()
    state = restarted.state("100")
    assert state is not None and [p.bulletin_id for p in state.active(clock())] == [b.id]
    clock.now = T0 + timedelta(hours=2)  # expiry still honoured without the database
    assert state.active(clock()) == []


async def test_run_loop_keeps_serving_when_refresh_fails(paths: Paths) -> None:
    store, clock = FakeStore(), Clock(T0)
    store.add("abc", T0 - timedelta(minutes=1))
    service, _ = make(store, paths, clock)
    await service.refresh()
    store.fail = True
    task = asyncio.create_task(service.run())
    service.notify_changed()
    await asyncio.sleep(0.05)
    state = service.state("100")
    assert state is not None and len(state.active(clock())) == 1
    store.fail = False
    store.add("defg", T0 - timedelta(seconds=1))
    refreshes = service.refreshes
    service.notify_changed()
    for _ in range(60):
        await asyncio.sleep(0.05)
        if service.refreshes > refreshes:
            break
    task.cancel()
    state = service.state("100")
    assert state is not None and len(state.active(clock())) == 2


async def test_fallback_plays_only_what_its_file_holds_now(paths: Paths) -> None:
    store, clock = FakeStore(), Clock(T0)
    store.add("abcdefghij", T0 + timedelta(seconds=10))
    service, _ = make(store, paths, clock)
    await service.refresh()
    state = service.state("100")
    assert state is not None
    nodis, (bulletin,) = state.no_disruptions.media, state.bulletins
    assert service.fallback_plays("100", [nodis])
    assert not service.fallback_plays("100", [bulletin.media])
    assert not service.fallback_plays("101", [nodis])
    # the bulletin starts: until the file is rewritten it is stale for what is in force
    clock.now = T0 + timedelta(seconds=11)
    assert not service.fallback_plays("100", [p.media for p in state.active(clock())])
    service.write_fallbacks()
    assert service.fallback_plays("100", [bulletin.media])


async def test_a_fallback_file_deleted_by_hand_is_noticed_within_a_second(
    paths: Paths,
) -> None:
    store, clock, seconds = FakeStore(), Clock(T0), [100.0]
    service = BulletinService(
        store, paths, clock, speak=FakeSpeaker(), monotonic=lambda: seconds[0]
    )
    await service.refresh()
    state = service.state("100")
    assert state is not None
    nodis = state.no_disruptions.media
    assert service.fallback_plays("100", [nodis])  # seen on disk now
    (paths.fallback_host / "100.wav").unlink()
    seconds[0] += 0.5
    assert service.fallback_plays("100", [nodis])  # within the second it was seen
    assert not service.fallback_plays("100", [nodis], look=True)  # looked for now
    seconds[0] += 0.6
    assert not service.fallback_plays("100", [nodis])


async def test_a_rewrite_is_told_and_the_boundary_is_per_number(paths: Paths) -> None:
    store, clock = FakeStore(), Clock(T0)
    store.add("abcdefghij", T0 + timedelta(seconds=10), T0 + timedelta(seconds=20))
    service, _ = make(store, paths, clock)
    told: list[int] = []
    service.on_fallback_written.append(lambda: told.append(1))
    await service.refresh()
    assert told == [1]
    service.write_fallbacks()
    assert told == [1]  # nothing to rewrite: nothing told
    assert service.next_boundary("100") == T0 + timedelta(seconds=10)
    clock.now = T0 + timedelta(seconds=11)
    service.write_fallbacks()
    assert told == [1, 1] and service.next_boundary("100") == T0 + timedelta(seconds=20)


async def test_fallback_plays_nothing_after_a_start_from_the_manifest(paths: Paths) -> None:
    store, clock = FakeStore(), Clock(T0)
    service, _ = make(store, paths, clock)
    await service.refresh()
    restarted, _ = make(store, paths, clock)
    assert restarted.load_manifest()
    state = restarted.state("100")
    assert state is not None
    assert not restarted.fallback_plays("100", [state.no_disruptions.media])
