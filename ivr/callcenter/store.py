"""Agent state kept in a JSON file under the state dir, so logins and pauses survive a
controller restart (written atomically after every change)."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ivr.audio import write_atomic


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
