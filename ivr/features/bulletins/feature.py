"""Disruption bulletins (Häiriöinfo): the announcement flow, bulletin audio and fallback
files, the calls the dialplan serves alone from them, anonymous call counters, and the
listener that picks up bulletin changes at once."""

from __future__ import annotations

import logging

from ivr.bulletins.counter import CallCounter
from ivr.bulletins.direct import DirectRoutes
from ivr.bulletins.heard import HeardFiles
from ivr.bulletins.listener import listen
from ivr.bulletins.service import BulletinService, Paths
from ivr.core import Core, Feature
from ivr.flows.announcement import AnnouncementFlow
from ivr.flows.fastpath import BulletinFastPath, HandedLog
from ivr.http.bulletins import add_routes
from storage.repositories.bulletins import BulletinRepository, CounterRepository

log = logging.getLogger(__name__)


async def wire(core: Core) -> Feature:
    s = core.settings
    repo = BulletinRepository(core.sessions)
    bulletins = BulletinService(
        repo,
        Paths(
            sounds_host=s.in_root(s.sounds_inner),
            sounds_inner=s.sounds_inner,
            fallback_host=s.in_root(s.fallback_inner),
        ),
        core.clock,
    )
    try:
        await bulletins.refresh()
    except Exception as exc:  # any database trouble: serve from the manifest instead
        log.error("cannot load bulletins from the database (%s)", type(exc).__name__)
        if not bulletins.load_manifest():
            log.error("no bulletin manifest either: bulletin numbers play not-in-service")
    counts = CounterRepository(core.sessions)
    counter = CallCounter(
        counts,
        s.state_dir / "spool" / "bulletin-counters",  # the counts' journal
        core.clock,
    )
    announcement = AnnouncementFlow(bulletins, counter, core.clock, fallback=bulletins)
    core.services.offer(bulletins, announcement, repo, counts)
    # While a number's fallback file is current the dialplan serves its calls alone: told
    # by Asterisk globals, counted from the files it writes.
    direct = DirectRoutes(core.ari, bulletins, core.clock, enabled=s.bulletin_direct)
    bulletins.on_fallback_written.append(direct.poke)
    await direct.publish()  # before the first call: this controller's setting holds
    handed = HandedLog()
    heard = HeardFiles(s.in_root(s.heard_inner), counter, lambda: core.router.events, handed.add)
    # Lean bulletin calls are served from the dispatcher, with no Call and no flow.
    core.dispatcher.fast = BulletinFastPath(
        core.ari_ws,  # its continue goes over the event websocket (one frame)
        bulletins,
        bulletins,
        counter,
        core.clock,
        flow=announcement,
        admission=lambda: core.router.admission,
        events=lambda: core.router.events,
        shed=lambda flow: core.router.shed.update((flow,)),
        handed=handed,
        now=core.ari_ws,  # ... written at once, with no task, once the socket answers
    )
    return Feature(
        "bulletins",
        flows=(announcement,),
        routes=(
            lambda app: add_routes(
                app, bulletins, repo, core.tenants.get, core.audit, core.clock, core.guard
            ),
        ),
        tasks=(
            ("bulletins", bulletins.run),
            ("counter", counter.run),
            ("direct", direct.run),
            ("heard", heard.run),
            ("listener", lambda: listen(s, bulletins.notify_changed)),
        ),
        closers=(counter.close,),
    )
