"""An audit log in memory, for unit tests of what must be audited (the guard's refusals)."""

from __future__ import annotations

from typing import Any

from storage.domain import Actor


class FakeAudit:
    def __init__(self) -> None:
        self.entries: list[dict[str, Any]] = []

    async def append(self, action: str, actor: Actor, **kw: Any) -> None:
        self.entries.append({"action": action, "actor": actor.label, **kw})
