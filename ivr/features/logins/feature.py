"""Logins (issue 13): ``/api/login``, ``/api/logout``, ``/api/session`` and ``/api/tokens``,
the Host allow-list of the HTTP edge, and a task that deletes sessions long over.

The credential side (argon2 pool, cache, backoff) is the core's guard's
:class:`~ivr.http.sessions.Identity`; this feature closes its pool at shutdown.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta

from aiohttp import web

from ivr.core import Core, Feature
from ivr.http.browser import HOSTS, HostPolicy
from ivr.http.logins import add_routes
from ivr.http.sessions import Identity
from storage.errors import StorageError

log = logging.getLogger(__name__)

PURGE_EVERY = 600.0
KEEP_ENDED = timedelta(days=1)


async def purge_sessions(identity: Identity, every: float = PURGE_EVERY) -> None:
    """Delete sessions ended or expired more than a day ago, every ``every`` seconds."""
    while True:
        await asyncio.sleep(every)
        try:
            n = await identity.sessions.purge(identity.clock(), identity.policy.idle, KEEP_ENDED)
        except StorageError as exc:
            log.warning("purging old sessions failed (%s); next try in %.0f s", exc, every)
            continue
        if n:
            log.info("purged %d old sessions", n)


async def wire(core: Core) -> Feature:
    identity = core.guard.identity
    assert identity is not None, "the core's guard has an Identity"
    s = core.settings
    hosts = HostPolicy.of(s.bind, s.http_port, s.http_hosts.split(","))

    def routes(app: web.Application) -> None:
        app[HOSTS] = hosts
        add_routes(app, identity, core.guard)

    return Feature(
        "logins",
        routes=(routes,),
        tasks=(("purge-sessions", lambda: purge_sessions(identity)),),
        closers=(identity.close,),
    )
