"""The hub: a snapshot first, then one delta per change with the next sequence number; a
reconnecting browser gets exactly the deltas after its Last-Event-ID, or a snapshot."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import pytest

from ivr.wallboard.deltas import apply
from ivr.wallboard.hub import WallboardHub
from storage.errors import StorageUnavailable


class Doc:
    def __init__(self) -> None:
        self.value: dict[str, Any] = {"queues": {"sales": {"waiting": []}}, "n": 0}
        self.down = False

    async def build(self) -> dict[str, Any]:
        if self.down:
            raise StorageUnavailable("database unavailable")
        return {"queues": {"sales": {"waiting": list(self.value["queues"]["sales"]["waiting"])}},
                "n": self.value["n"]}  # fmt: skip


def now() -> datetime:
    return datetime(2026, 12, 1, tzinfo=UTC)


def strip(doc: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in doc.items() if k not in ("seq", "now")}


async def test_snapshot_then_deltas_in_sequence() -> None:
    doc = Doc()
    hub = WallboardHub("demo", doc.build, now, interval=0.05, min_interval=0.0)
    async with hub.watch() as (first, watcher):
        (snap,) = first
        assert snap.kind == "snapshot" and snap.data["seq"] == 0
        state = strip(snap.data)
        doc.value["queues"]["sales"]["waiting"] = ["c1"]
        hub.poke()
        event = await asyncio.wait_for(watcher.next(), 2)
        assert event.kind == "delta" and event.data["seq"] == 1
        assert event.id == f"{hub.epoch}-1"
        state = apply(event.data["changes"], state)
        doc.value["n"] = 5
        event = await asyncio.wait_for(watcher.next(), 2)  # the interval alone finds it
        assert event.data["seq"] == 2
        assert apply(event.data["changes"], state) == await doc.build()
    await hub.close()


async def test_reconnect_gets_the_missed_deltas_or_a_snapshot() -> None:
    doc = Doc()
    hub = WallboardHub("demo", doc.build, now, buffer=3)
    async with hub.watch() as (first, _):
        seen = first[0].id
        base = strip(first[0].data)
    for n in range(1, 3):  # nobody watches: changes fold into the next refresh
        doc.value["n"] = n
        await hub.refresh()
    async with hub.watch(seen) as (missed, _):
        assert [e.kind for e in missed] == ["delta", "delta"]
        assert [e.data["seq"] for e in missed] == [1, 2]
        state = base
        for e in missed:
            state = apply(e.data["changes"], state)
        assert state == await doc.build()
    async with hub.watch(f"{hub.epoch}-2") as (nothing, _):
        assert nothing == []
    for n in range(3, 8):
        doc.value["n"] = n
        await hub.refresh()
    # "²" passes str.isdigit() but not int(): a garbled header gets a snapshot, never a 500.
    for stale in (seen, "otherepoch-1", "garbage", f"{hub.epoch}-999", f"{hub.epoch}-²"):
        async with hub.watch(stale) as (again, _):
            assert [e.kind for e in again] == ["snapshot"], stale
            assert again[0].data["seq"] == hub.seq
    await hub.close()


async def test_a_watcher_too_far_behind_gets_a_snapshot() -> None:
    doc = Doc()
    hub = WallboardHub("demo", doc.build, now, watcher_limit=2)
    async with hub.watch() as (_, watcher):
        for n in range(1, 6):
            doc.value["n"] = n
            await hub.refresh()
        event = await watcher.next()
        assert event.kind == "snapshot" and event.data["n"] == 5
    await hub.close()


async def test_postgres_down_refuses_the_stream_and_the_loop_survives() -> None:
    doc = Doc()
    hub = WallboardHub("demo", doc.build, now, interval=0.02, min_interval=0.0)
    doc.down = True
    with pytest.raises(StorageUnavailable):
        async with hub.watch():
            pass
    doc.down = False
    async with hub.watch() as (_, watcher):
        doc.down = True
        await asyncio.sleep(0.1)  # refreshes fail and are logged
        doc.down = False
        doc.value["n"] = 9
        event = await asyncio.wait_for(watcher.next(), 2)
        assert event.data["changes"] == [{"path": ["n"], "value": 9}]
    await hub.close()
