"""Builds the controller from settings in one place and runs it until told to stop.

:func:`serve` builds the :class:`~ivr.core.Core`, wires each feature in :data:`FEATURES` in
order (a feature may use what an earlier one offers), then runs their flows, routes and
background tasks. Everything with a lifetime is registered on one AsyncExitStack, so shutdown
runs in reverse: the HTTP site, the event stream, the calls, the background tasks, then the
features' closers and the core.

Adding a feature is one folder ``ivr/features/<name>/`` with a ``feature.py`` whose
``async def wire(core)`` returns a :class:`~ivr.core.Feature`, plus one line in
:data:`ivr.feature_names.FEATURES`.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import inspect
import logging
import os
import signal
from collections.abc import Sequence
from contextlib import AsyncExitStack
from typing import cast

from aiohttp import web

from ivr.clock import Clock, utcnow
from ivr.config import Settings
from ivr.core import Core, Feature, TaskFactory, Wire, build_core
from ivr.feature_names import FEATURES as FEATURES  # the list lives where the CLI reads it
from ivr.http.edge import new_app

log = logging.getLogger(__name__)


def load_feature(name: str) -> Wire:
    """The ``wire`` of feature ``name`` (module ``ivr.features.<name>.feature``)."""
    wire = importlib.import_module(f"ivr.features.{name}.feature").wire
    if not inspect.iscoroutinefunction(wire):
        raise TypeError(f"ivr.features.{name}.feature.wire must be an async function")
    return cast(Wire, wire)


async def _cancel(task: asyncio.Task[None]) -> None:
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


def _start(stack: AsyncExitStack, name: str, factory: TaskFactory) -> None:
    stack.push_async_callback(_cancel, asyncio.create_task(factory(), name=name))


async def wire_features(
    core: Core, stack: AsyncExitStack, features: Sequence[Wire]
) -> list[Feature]:
    """Wire ``features`` in order: flows go to the router, closers onto ``stack``."""
    wired = []
    for wire in features:
        feature = await wire(core)
        for flow in feature.flows:
            core.router.add(flow)
        for closer in feature.closers:
            stack.push_async_callback(closer)
        wired.append(feature)
    return wired


def http_app(features: Sequence[Feature]) -> web.Application:
    """One aiohttp application with every feature's routes."""
    app = new_app(client_max_size=1024 * 1024)
    for feature in features:
        for add in feature.routes:
            add(app)
    return app


async def serve(
    settings: Settings,
    *,
    stop: asyncio.Event | None = None,
    clock: Clock = utcnow,
    features: Sequence[str] = FEATURES,
) -> None:
    """Run the controller until ``stop`` is set (or SIGINT/SIGTERM)."""
    stop = stop or asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            asyncio.get_running_loop().add_signal_handler(sig, stop.set)
    pidfile = settings.state_dir / "controller.pid"
    async with AsyncExitStack() as stack:
        settings.state_dir.mkdir(parents=True, exist_ok=True)
        pidfile.write_text(f"{os.getpid()}\n")
        stack.callback(pidfile.unlink, missing_ok=True)
        core = await build_core(settings, stack, clock=clock)
        wired = await wire_features(core, stack, [load_feature(f) for f in features])
        _start(stack, "definitions", core.definitions.watch)
        for feature in wired:
            for name, factory in feature.tasks:
                _start(stack, name, factory)
        stack.push_async_callback(core.dispatcher.shutdown)
        _start(stack, "ari-events", core.stream.run)
        stack.push_async_callback(core.stream.stop)
        runner = web.AppRunner(http_app(wired), access_log=None)
        await runner.setup()
        stack.push_async_callback(runner.cleanup)
        await web.TCPSite(runner, settings.bind, settings.http_port).start()
        log.info(
            "controller running: console http://%s:%s/, ARI app %r, features %s",
            settings.bind,
            settings.http_port,
            settings.ari_app,
            ", ".join(f.name for f in wired),
        )
        await stop.wait()
        log.info("controller stopping")
