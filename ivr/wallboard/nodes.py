"""The wallboard's node list (issue 19): each node's newest controller, up or down. Pure."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from storage.repositories.controllers import ControllerView

__all__ = ["NodeStates", "node_rows"]


class NodeStates(Protocol):
    """:class:`storage.repositories.controllers.ControllerRepository`."""

    async def nodes(self) -> list[ControllerView]: ...


def node_rows(views: Sequence[ControllerView]) -> list[dict[str, Any]]:
    """One row per node address: ``up`` (its controller beats), ``since`` (the controller's
    start when up; its last beat, the best known moment it went away, when down) and
    ``stopped`` (a clean stop rather than a loss)."""
    return [
        {
            "node": v.node,
            "up": v.up,
            "since": (v.started_at if v.up else v.beat_at).isoformat(),
            "stopped": v.stopped_at is not None,
        }
        for v in sorted(views, key=lambda v: v.node)
    ]
