"""Builds one tenant's wallboard document: today's figures and the callback requests from
Postgres, the agents' states from Postgres (this controller's own board first: it wrote
them, and the wallboard need not wait for the write), who waits right now from the queue
engine, and the queues and their service-level thresholds from the flow definitions."""

from __future__ import annotations

import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from ivr.callcenter.agents import AgentBoard
from ivr.callcenter.engine import Entry
from ivr.clock import Clock
from ivr.flowdefs.model import TenantFlows
from ivr.wallboard.figures import (
    SHORT_ABANDON,
    BoardInput,
    QueueInput,
    Waiting,
    board,
    day_start,
)
from ivr.wallboard.nodes import NodeStates, node_rows
from storage.domain import TenantInfo
from storage.repositories.wallboard import CallbackCounts, QueueDay


class Figures(Protocol):
    async def day(
        self,
        tenant_id: uuid.UUID,
        since: datetime,
        thresholds: Mapping[str, float],
        *,
        short_abandon: float = ...,
    ) -> dict[str, QueueDay]: ...

    async def callbacks(self, tenant_id: uuid.UUID, now: datetime) -> dict[str, CallbackCounts]: ...


class AgentRows(Protocol):
    async def load(self, agents: Sequence[str] | None = None) -> list[dict[str, Any]]: ...


class Tenants(Protocol):
    async def by_slug(self, slug: str) -> TenantInfo: ...


class Flows(Protocol):
    def get(self, tenant: str) -> TenantFlows | None: ...


class LiveQueues(Protocol):
    """The queue engine's view of who waits (``QueueEngine``)."""

    board: AgentBoard

    def waiting(self, queue: str) -> list[tuple[Entry, bool]]: ...


@dataclass
class _Cached:
    info: TenantInfo
    at: float


class WallboardSource:
    def __init__(
        self,
        flows: Flows,
        live: LiveQueues,
        tenants: Tenants,
        figures: Figures,
        agents: AgentRows,
        clock: Clock,
        *,
        tenant_ttl: float = 60.0,
        nodes: NodeStates | None = None,
    ) -> None:
        self._flows = flows
        self._live = live
        self._tenants = tenants
        self._figures = figures
        self._agents = agents
        self._clock = clock
        self._ttl = tenant_ttl
        self._cache: dict[str, _Cached] = {}
        self._nodes = nodes

    async def tenant(self, slug: str) -> TenantInfo:
        """The tenant (its zone and language), cached ``tenant_ttl`` seconds; raises
        :class:`storage.errors.NotFound` for an unknown slug."""
        hit = self._cache.get(slug)
        if hit is not None and time.monotonic() - hit.at < self._ttl:
            return hit.info
        info = await self._tenants.by_slug(slug)
        self._cache[slug] = _Cached(info, time.monotonic())
        return info

    async def document(self, slug: str) -> dict[str, Any]:
        info = await self.tenant(slug)
        flows = self._flows.get(slug)
        queues = dict(flows.queues) if flows is not None else {}
        now = self._clock()
        start = day_start(now, info.time_zone)
        thresholds = {name: q.service_level_threshold for name, q in queues.items()}
        days = await self._figures.day(info.id, start, thresholds, short_abandon=SHORT_ABANDON)
        callbacks = await self._figures.callbacks(info.id, now)
        agent_ids = sorted({a for q in queues.values() for a in q.agents})
        records: dict[str, Mapping[str, Any]] = {
            r["agent_id"]: r for r in await self._agents.load(agent_ids)
        }
        wanted = set(agent_ids)
        records.update({a.agent_id: a.to_dict() for a in self._live.board if a.agent_id in wanted})
        inputs = tuple(
            QueueInput(
                name=name,
                threshold=q.service_level_threshold,
                agents=q.agents,
                day=days.get(name, QueueDay(name)),
                callbacks=callbacks.get(name, CallbackCounts(name)),
                waiting=tuple(
                    Waiting(entry.entry_id, entry.enqueued_at, ringing)
                    for entry, ringing in self._live.waiting(f"{slug}/{name}")
                    if entry.kind == "live"
                ),
            )
            for name, q in sorted(queues.items())
        )
        doc = board(
            BoardInput(
                tenant=slug,
                name=info.name,
                language=info.language,
                time_zone=info.time_zone,
                day_start=start,
                queues=inputs,
                agents=records,
            )
        )
        if self._nodes is not None:
            doc["nodes"] = node_rows(await self._nodes.nodes())
        return doc
