"""The console's JSON endpoints: health, live calls and the bulletins in force (the pages are
:mod:`ivr.console`)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Protocol

from aiohttp import web

from ivr.bulletins.service import BulletinService
from ivr.clock import Clock


class CallStats(Protocol):
    @property
    def active_calls(self) -> int: ...


@dataclass
class ConsoleDeps:
    bulletins: BulletinService
    calls: CallStats
    clock: Clock
    ari_connected: Callable[[], bool]
    events_seen: Mapping[str, int]
    # Calls shed and the load they are judged by (the flow router and the admission gate).
    load: Callable[[], Mapping[str, object]] = lambda: {}


def add_routes(app: web.Application, deps: ConsoleDeps) -> None:

    def snapshot() -> dict[str, object]:
        now = deps.clock()
        numbers = []
        for number in deps.bulletins.numbers():
            st = deps.bulletins.state(number)
            if st is None:
                continue
            numbers.append(
                {
                    "number": st.number,
                    "tenant": st.tenant,
                    "active": [
                        {
                            "id": str(b.bulletin_id),
                            "duration_s": round(b.duration, 2),
                            "ends_at": b.ends_at.isoformat() if b.ends_at else None,
                        }
                        for b in st.active(now)
                    ],
                }
            )
        return {
            "ari_connected": deps.ari_connected(),
            "active_calls": deps.calls.active_calls,
            "numbers": numbers,
        }

    async def health(_: web.Request) -> web.Response:
        snap = snapshot()
        return web.json_response(
            {"ok": snap["ari_connected"], "active_calls": snap["active_calls"]},
            status=200 if snap["ari_connected"] else 503,
        )

    async def bulletins(_: web.Request) -> web.Response:
        return web.json_response(snapshot())

    async def stats(_: web.Request) -> web.Response:
        """ARI events seen by type since start (no channel or caller data)."""
        return web.json_response(
            {
                "active_calls": deps.calls.active_calls,
                "events": dict(deps.events_seen),
                **deps.load(),
            }
        )

    app.router.add_get("/api/health", health)
    app.router.add_get("/api/bulletins", bulletins)
    app.router.add_get("/api/stats", stats)
