"""Agent state in Postgres with the JSON file as its backing copy (issue 14, wallboard)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ivr.callcenter.coordinator import QueueCoordinator
from ivr.callcenter.engine import QueueEngine
from ivr.callcenter.store import DurableAgentStore, FileAgentStore
from ivr.clock import utcnow
from ivr.flowdefs.model import Queue
from storage.errors import StorageUnavailable


class Rows:
    def __init__(self) -> None:
        self.rows: dict[str, dict[str, Any]] = {}
        self.down = False
        self.writers: list[str] = []

    async def save(self, records: Sequence[Mapping[str, Any]], controller: str) -> None:
        if self.down:
            raise StorageUnavailable("database unavailable")
        self.writers.append(controller)
        for r in records:
            self.rows[str(r["agent_id"])] = dict(r)

    async def load(self, agents: Sequence[str] | None = None) -> list[dict[str, Any]]:
        if self.down:
            raise StorageUnavailable("database unavailable")
        return [r for a, r in sorted(self.rows.items()) if agents is None or a in agents]


RECORD = {"agent_id": "agent1", "state": "available", "since": "2026-12-01T10:00:00+00:00"}


async def test_saves_go_to_postgres_and_the_file(tmp_path: Path) -> None:
    rows, file = Rows(), FileAgentStore(tmp_path / "agents.json")
    store = DurableAgentStore(rows, file, controller="node-a:1")
    heard: list[int] = []
    store.on_saved(lambda records: heard.append(len(records)))
    await store.save_agents([RECORD])
    assert rows.rows["agent1"]["state"] == "available" and rows.writers == ["node-a:1"]
    assert file.load() == [RECORD]
    assert heard == [1]


async def test_postgres_down_at_start_restores_from_the_file(tmp_path: Path) -> None:
    rows, file = Rows(), FileAgentStore(tmp_path / "agents.json")
    await file.save_agents([RECORD])
    rows.down = True
    assert await DurableAgentStore(rows, file, "n").load() == [RECORD]


async def test_an_empty_table_takes_the_files_records_once(tmp_path: Path) -> None:
    rows, file = Rows(), FileAgentStore(tmp_path / "agents.json")
    await file.save_agents([RECORD])
    assert await DurableAgentStore(rows, file, "n").load() == [RECORD]
    assert rows.rows["agent1"] == RECORD
    rows.rows["agent1"] = {**RECORD, "state": "paused"}  # the rows win from now on
    (loaded,) = await DurableAgentStore(rows, file, "n").load()
    assert loaded["state"] == "paused"


async def test_a_failed_save_is_retried_by_the_coordinator(tmp_path: Path) -> None:
    rows, file = Rows(), FileAgentStore(tmp_path / "agents.json")
    engine = QueueEngine({"demo/sales": Queue("sales", ("agent1",))})
    coordinator = QueueCoordinator(engine, utcnow, store=DurableAgentStore(rows, file, "n"))
    changes: list[int] = []
    coordinator.on_change(lambda: changes.append(1))
    rows.down = True
    coordinator.login("agent1")
    assert changes  # watchers hear of the change at once
    assert not await coordinator.flush_agents()
    rows.down = False
    assert await coordinator.flush_agents()
    assert rows.rows["agent1"]["state"] == "available"


def test_a_restore_that_moves_an_agent_saves_it_again() -> None:
    from datetime import UTC, datetime

    from ivr.callcenter.agents import AgentBoard

    now = datetime(2026, 12, 1, 12, tzinfo=UTC)
    ringing = {"agent_id": "a1", "state": "ringing", "since": now.isoformat(), "pending": "logout"}
    board = AgentBoard.restore([ringing, RECORD], now)
    (changed,) = board.drain_changes()  # the stored "ringing" row would stay stale otherwise
    assert (changed.agent_id, changed.state) == ("a1", "logged_out")
