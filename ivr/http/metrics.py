"""``GET /metrics``: the controller's Prometheus metrics (text exposition format).

Platform-wide figures (traffic of every tenant), so only operators read them: a scraper
uses an operator's API token (``Authorization: Bearer …``) or Basic credentials.
"""

from __future__ import annotations

from typing import Protocol

from aiohttp import web

from ivr.http.guard import Guard, Principal
from storage.events import Role

__all__ = ["add_routes"]


class Exposition(Protocol):
    def render(self) -> bytes: ...


def add_routes(app: web.Application, guard: Guard, metrics: Exposition) -> None:
    @guard.requires(Role.OPERATOR)
    async def scrape(_: web.Request, who: Principal) -> web.Response:
        # text/plain; version=0.0.4 (aiohttp takes the charset separately)
        return web.Response(
            body=metrics.render(),
            content_type="text/plain",
            charset="utf-8",
            headers={"X-Content-Type-Options": "nosniff"},
        )

    app.router.add_get("/metrics", scrape)
