"""Builds the controller from settings in one place and runs it until told to stop.

Dependencies are constructed here and handed down through constructors; everything with a
lifetime is registered on one AsyncExitStack so shutdown runs in reverse order.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
from collections import Counter
from contextlib import AsyncExitStack
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from ivr.ari.client import AriClient
from ivr.ari.dispatcher import Dispatcher
from ivr.ari.events import EventStream
from ivr.bulletins.counter import CallCounter
from ivr.bulletins.listener import listen
from ivr.bulletins.service import BulletinService, Paths
from ivr.clock import Clock, utcnow
from ivr.config import Settings
from ivr.flows.announcement import AnnouncementFlow
from ivr.flows.router import FlowRouter
from ivr.http.console import ConsoleDeps, build_app
from storage.db import make_engine, session_factory
from storage.repositories.bulletins import BulletinRepository, CounterRepository

log = logging.getLogger(__name__)


@dataclass
class Controller:
    dispatcher: Dispatcher
    stream: EventStream
    bulletins: BulletinService
    counter: CallCounter


async def _cancel(task: asyncio.Task[None]) -> None:
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


async def serve(
    settings: Settings, *, stop: asyncio.Event | None = None, clock: Clock = utcnow
) -> None:
    """Run the controller until ``stop`` is set (or SIGINT/SIGTERM)."""
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    pidfile = settings.state_dir / "controller.pid"
    async with AsyncExitStack() as stack:
        settings.state_dir.mkdir(parents=True, exist_ok=True)
        pidfile.write_text(f"{os.getpid()}\n")
        stack.callback(pidfile.unlink, missing_ok=True)

        engine = make_engine(settings)
        stack.push_async_callback(engine.dispose)
        sessions = session_factory(engine)

        bulletins = BulletinService(
            BulletinRepository(sessions),
            Paths(
                sounds_host=settings.in_root(settings.sounds_inner),
                sounds_inner=settings.sounds_inner,
                fallback_host=settings.in_root(settings.fallback_inner),
            ),
            clock,
        )
        try:
            await bulletins.refresh()
        except Exception as exc:
            log.error("cannot load bulletins from the database (%s)", type(exc).__name__)
            if not bulletins.load_manifest():
                log.error("no bulletin manifest either: bulletin numbers play not-in-service")
        counter = CallCounter(
            CounterRepository(sessions),
            settings.state_dir / "spool" / "bulletin-counters.json",
            clock,
        )
        stack.push_async_callback(counter.close)

        client = AriClient(
            settings.ari_base_url, settings.ari_user, settings.require("ari_password")
        )
        stack.push_async_callback(client.close)
        router = FlowRouter({"announcement": AnnouncementFlow(bulletins, counter, clock)})
        dispatcher = Dispatcher(client, router.handle, app=settings.ari_app)

        async def on_connected(reconnected: bool) -> None:
            log.info("ARI events connected (reconnect=%s); resyncing live calls", reconnected)
            await dispatcher.resync()

        events_seen: Counter[str] = Counter()

        def on_event(event: dict[str, Any]) -> None:
            events_seen[str(event.get("type"))] += 1
            dispatcher.on_event(event)

        stream = EventStream(
            settings.ari_base_url,
            settings.ari_user,
            settings.require("ari_password"),
            settings.ari_app,
            on_event=on_event,
            on_connected=on_connected,
        )
        background = [
            asyncio.create_task(bulletins.run(), name="bulletins"),
            asyncio.create_task(counter.run(), name="counter"),
            asyncio.create_task(listen(settings, bulletins.notify_changed), name="listener"),
        ]
        for task in background:
            stack.push_async_callback(_cancel, task)
        stream_task = asyncio.create_task(stream.run(), name="ari-events")

        async def stop_stream() -> None:
            await stream.stop()
            await _cancel(stream_task)

        stack.push_async_callback(dispatcher.shutdown)
        stack.push_async_callback(stop_stream)

        runner = web.AppRunner(
            build_app(
                ConsoleDeps(bulletins, dispatcher, clock, lambda: stream.connected, events_seen)
            ),
            access_log=None,
        )
        await runner.setup()
        stack.push_async_callback(runner.cleanup)
        site = web.TCPSite(runner, settings.bind, settings.http_port)
        await site.start()
        log.info(
            "controller running: console http://%s:%s/, ARI app %r",
            settings.bind,
            settings.http_port,
            settings.ari_app,
        )
        await stop.wait()
        log.info("controller stopping")
