"""The controller's current flow definitions: loaded at start, replaced when `linja dialplan
reload` publishes a new validated snapshot. A broken edit never replaces them."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from pathlib import Path

from ivr.flowdefs.errors import DefinitionErrors
from ivr.flowdefs.loader import load_definitions
from ivr.flowdefs.model import Queue, TenantFlows
from ivr.flowdefs.snapshot import read_snapshot

log = logging.getLogger(__name__)


class LiveDefinitions:
    def __init__(self, dialplan_dir: Path, snapshot: Path) -> None:
        self._dir = dialplan_dir
        self._snapshot = snapshot
        self._flows: dict[str, TenantFlows] = {}
        self._mtime: float | None = None
        self._listeners: list[Callable[[dict[str, TenantFlows]], None]] = []

    def get(self, tenant: str) -> TenantFlows | None:
        return self._flows.get(tenant)

    def on_change(self, listener: Callable[[dict[str, TenantFlows]], None]) -> None:
        self._listeners.append(listener)

    def queues(self) -> dict[str, Queue]:
        """Every queue, keyed ``<tenant>/<queue>`` as the queue engine knows them."""
        return {
            f"{t}/{name}": q for t, flows in self._flows.items() for name, q in flows.queues.items()
        }

    def agents(self) -> set[str]:
        return {a for q in self.queues().values() for a in q.agents}

    def load(self) -> None:
        """The published snapshot if there is one (and it reads), else the files (if they
        validate)."""
        if self._snapshot.is_file():
            self._mtime = self._snapshot.stat().st_mtime
            try:
                flows = read_snapshot(self._snapshot)
            except (OSError, ValueError) as exc:  # e.g. an older version's snapshot
                log.error(
                    "flow snapshot %s unreadable (%s); loading the files", self._snapshot, exc
                )
            else:
                self._set(flows, f"snapshot {self._snapshot}")
                return
        try:
            self._set(load_definitions(self._dir), f"files in {self._dir}")
        except DefinitionErrors as exc:
            for err in exc.errors:
                log.error("flow definitions: %s", err)
            log.error("flow definitions do not validate; call-center numbers are unavailable")

    def _set(self, flows: dict[str, TenantFlows], origin: str) -> None:
        self._flows = flows
        log.info("flow definitions loaded from %s: tenants %s", origin, ", ".join(sorted(flows)))
        for listener in self._listeners:
            listener(flows)

    async def watch(self, interval: float = 1.0) -> None:
        """Pick up a new snapshot written by `linja dialplan reload`."""
        while True:
            await asyncio.sleep(interval)
            try:
                mtime = self._snapshot.stat().st_mtime
            except FileNotFoundError:
                continue
            if mtime != self._mtime:
                self._mtime = mtime
                try:
                    self._set(read_snapshot(self._snapshot), "a new snapshot")
                except (OSError, ValueError) as exc:
                    log.error("new flow snapshot unreadable (%s); keeping the current one", exc)
