"""The wallboard over HTTP, per tenant (``admin`` and ``team`` users of the tenant, and
platform operators; ``external`` users and other tenants' users get 403)::

    GET /api/tenants/{slug}/wallboard          the document now (JSON, with seq and now)
    GET /api/tenants/{slug}/wallboard/events   Server-Sent Events: ``snapshot`` first, then
                                               ``delta`` events ({"seq", "now", "changes"})

Each event's id is ``<epoch>-<seq>``; a browser that reconnects sends it back as
``Last-Event-ID`` and gets the deltas it missed, or a fresh ``snapshot`` when they are no
longer kept (or the controller restarted). An unknown tenant is 404.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import uuid
from typing import Protocol

from aiohttp import web
from aiohttp_sse import EventSourceResponse, sse_response

from ivr.http.guard import Guard, Principal
from ivr.http.problems import NotThere
from ivr.wallboard.hub import Event
from ivr.wallboard.service import Wallboards
from storage.events import Role

log = logging.getLogger(__name__)

RETRY_MS = 1000  # how soon a browser reconnects


class TenantIds(Protocol):
    async def tenant_id(self, slug: str) -> uuid.UUID | None: ...


async def _send(resp: EventSourceResponse, event: Event, retry: int | None = None) -> None:
    data = json.dumps(event.data, ensure_ascii=False, separators=(",", ":"))
    await resp.send(data, id=event.id, event=event.kind, retry=retry)


def add_routes(
    app: web.Application, wallboards: Wallboards, guard: Guard, tenants: TenantIds
) -> None:
    viewers = guard.requires(Role.ADMIN, Role.TEAM)

    async def scoped(request: web.Request, who: Principal) -> str:
        slug = request.match_info["slug"][:64]
        tenant_id = await tenants.tenant_id(slug)
        if tenant_id is None:
            raise NotThere(f"unknown tenant {slug!r}")
        who.scope(tenant_id)
        return slug

    @viewers
    async def document(request: web.Request, who: Principal) -> web.StreamResponse:
        hub = wallboards.hub(await scoped(request, who))
        await hub.refresh()
        return web.json_response(hub.document(), headers={"Cache-Control": "no-store"})

    @viewers
    async def events(request: web.Request, who: Principal) -> web.StreamResponse:
        slug = await scoped(request, who)
        hub = wallboards.hub(slug)
        last = request.headers.get("Last-Event-ID")
        async with hub.watch(last) as (first, watcher):
            log.info("wallboard %s: %s watching (last id %s)", slug, who.login, last)
            async with sse_response(request) as resp:
                gone = asyncio.ensure_future(resp.wait())
                closing = asyncio.ensure_future(wallboards.closing.wait())
                try:
                    for i, event in enumerate(first):
                        await _send(resp, event, RETRY_MS if i == 0 else None)
                    while not gone.done() and not closing.done():
                        nxt = asyncio.ensure_future(watcher.next())
                        await asyncio.wait({nxt, gone, closing}, return_when="FIRST_COMPLETED")
                        if not nxt.done():
                            nxt.cancel()
                            break
                        await _send(resp, nxt.result())
                except (ConnectionResetError, TimeoutError):
                    log.info("wallboard %s: %s went away", slug, who.login)
                finally:
                    for task in (gone, closing):
                        task.cancel()
                        with contextlib.suppress(asyncio.CancelledError):
                            await task
        log.info("wallboard %s: %s stopped watching", slug, who.login)
        return resp

    async def end_streams(_app: web.Application) -> None:
        wallboards.closing.set()

    app.on_shutdown.append(end_streams)
    app.router.add_get("/api/tenants/{slug}/wallboard", document)
    app.router.add_get("/api/tenants/{slug}/wallboard/events", events, allow_head=False)
