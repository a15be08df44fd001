"""Where agent state is kept across controller restarts.

:class:`FileAgentStore` is a JSON file under the state dir (written atomically after every
change). :class:`DurableAgentStore` keeps the records in Postgres (``agent_states``, one row
per agent, written by the controller that changes it), with the file as its backing copy:
every save writes the file too, so a controller that starts while Postgres is down still
restores its agents. At start the rows win; an empty table takes the file's records (the
state of a controller from before migration 0018). Listeners hear of every saved batch (the
wallboard).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

from ivr.audio import write_atomic
from storage.errors import StorageError

log = logging.getLogger(__name__)


class FileAgentStore:
    def __init__(self, path: Path) -> None:
        self._path = path

    async def save_agents(self, records: Sequence[Mapping[str, Any]]) -> None:
        current = {r["agent_id"]: r for r in self.load()}
        for r in records:
            current[str(r["agent_id"])] = dict(r)
        write_atomic(self._path, json.dumps(list(current.values())).encode(), mode=0o600)

    def load(self) -> list[dict[str, Any]]:
        try:
            data = json.loads(self._path.read_text())
        except FileNotFoundError:
            return []
        return [dict(r) for r in data] if isinstance(data, list) else []


class AgentRows(Protocol):
    async def save(self, records: Sequence[Mapping[str, Any]], controller: str) -> None: ...

    async def load(self, agents: Sequence[str] | None = None) -> list[dict[str, Any]]: ...


SavedListener = Callable[[Sequence[Mapping[str, Any]]], None]


class DurableAgentStore:
    """Agent records in Postgres, backed by a :class:`FileAgentStore`."""

    def __init__(self, rows: AgentRows, backing: FileAgentStore, controller: str) -> None:
        self._rows = rows
        self._backing = backing
        self._controller = controller
        self._listeners: list[SavedListener] = []

    def on_saved(self, listener: SavedListener) -> None:
        self._listeners.append(listener)

    async def save_agents(self, records: Sequence[Mapping[str, Any]]) -> None:
        """The file first (it never fails for a database reason), then the rows; a database
        error propagates so the coordinator retries the batch."""
        await self._backing.save_agents(records)
        await self._rows.save(records, self._controller)
        for listener in self._listeners:
            listener(records)

    async def load(self) -> list[dict[str, Any]]:
        """The rows; the file when Postgres cannot be asked or holds no rows yet (those
        records are then written to Postgres at the first save of each agent, or now)."""
        backing = self._backing.load()
        try:
            rows = await self._rows.load()
        except StorageError as exc:
            log.warning("agent state: Postgres unavailable (%s); using %s", exc, "the file")
            return backing
        if rows or not backing:
            log.info("agent state: %d agent(s) restored from Postgres", len(rows))
            return rows
        log.info("agent state: no rows yet; %d agent(s) taken from the file", len(backing))
        try:
            await self._rows.save(backing, self._controller)
        except StorageError as exc:
            log.warning("agent state: copying the file's records to Postgres failed: %s", exc)
        return backing
