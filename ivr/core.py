"""The controller's core and the feature seam.

The :class:`Core` is built once per controller (:func:`build_core`): settings, clock,
database sessions, the ARI client, event stream and dispatcher, prompts, the case sink, the
audit log, flow definitions, the tenant and user directory, processing restrictions and the
audio store. Everything in it lives as long as the controller.

A feature is a module with one ``async def wire(core) -> Feature``: it builds its own
services from the core and returns what the controller must run — call flows (by Stasis
name), HTTP routes, background tasks and closers. A feature may offer services to the
features wired after it through :attr:`Core.services` (typed by class), e.g. the menu uses the
voicemail flow the recording feature made. ``ivr/app.py`` lists the features in order.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Awaitable, Callable, Coroutine
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from typing import Any, TypeVar

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from ivr.ari.client import AriClient, pool_size
from ivr.ari.dispatcher import Dispatcher
from ivr.ari.events import EventStream
from ivr.ari.filters import apply_event_filter, untracked_end
from ivr.ari.reconciler import SHED_LABEL
from ivr.ari.retry import RetryPolicy
from ivr.ari.wsrest import WsRest
from ivr.clock import Clock, utcnow
from ivr.config import Settings, project_root
from ivr.directory import Directory
from ivr.flowdefs.live import LiveDefinitions
from ivr.flows.router import Flow, FlowRouter
from ivr.heartbeat.identity import controller_id
from ivr.http.guard import Guard
from ivr.http.sessions import Identity
from ivr.load.gate import Limits, LoadGate
from ivr.load.lag import LoopLag
from ivr.metrics import Metrics
from ivr.prompts import PromptRenderer
from recording.store import AudioStore
from storage.casewriter import build_recorder
from storage.db import make_engine, session_factory
from storage.recorder import CaseRecorder
from storage.repositories.audit import AuditLog
from storage.repositories.restrictions import RestrictionRepository
from storage.repositories.tenants import TenantRepository
from storage.repositories.users import UserRepository

log = logging.getLogger(__name__)

T = TypeVar("T")

RouteAdder = Callable[[web.Application], None]
TaskFactory = Callable[[], Coroutine[Any, Any, None]]
Closer = Callable[[], Awaitable[object]]


class MissingService(LookupError):
    """A feature asked for a service no earlier feature offered (the feature order is wrong)."""

    def __init__(self, kind: type[object]) -> None:
        super().__init__(
            f"no feature offers {kind.__name__}: wire the feature that makes it earlier "
            "in ivr/feature_names.py FEATURES"
        )


class Services:
    """What features offer each other, by class. One object per class."""

    def __init__(self) -> None:
        self._by_kind: dict[type[object], object] = {}

    def offer(self, *services: object) -> None:
        for service in services:
            kind = type(service)
            if kind in self._by_kind:
                raise ValueError(f"{kind.__name__} is offered twice")
            self._by_kind[kind] = service

    def offer_as(self, kind: type[T], service: T) -> None:
        """Offers ``service`` as ``kind`` (e.g. a subclass where its base is needed)."""
        if kind in self._by_kind:
            raise ValueError(f"{kind.__name__} is offered twice")
        self._by_kind[kind] = service

    def need(self, kind: type[T]) -> T:
        try:
            service = self._by_kind[kind]
        except KeyError:
            raise MissingService(kind) from None
        assert isinstance(service, kind)
        return service


@dataclass
class EventStats:
    """ARI events seen by type since start (no channel or caller data)."""

    seen: Counter[str] = field(default_factory=Counter)


@dataclass(frozen=True)
class Core:
    settings: Settings
    clock: Clock
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    ari: AriClient
    # The same ARI over the event websocket, for requests Asterisk answers at once (the
    # bulletin fast path's ``continue``): ivr/ari/wsrest.py.
    ari_ws: WsRest
    dispatcher: Dispatcher
    router: FlowRouter
    stream: EventStream
    events: EventStats
    prompts: PromptRenderer
    cases: CaseRecorder
    audit: AuditLog
    definitions: LiveDefinitions
    tenants: TenantRepository
    users: UserRepository
    directory: Directory
    guard: Guard
    restrictions: RestrictionRepository
    audio: AudioStore
    services: Services
    metrics: Metrics
    gate: LoadGate
    lag: LoopLag

    def ari_in_flight(self) -> int:
        """ARI requests sent or waiting, over HTTP and over the event websocket."""
        return self.ari.in_flight + self.ari_ws.in_flight


@dataclass(frozen=True)
class Feature:
    """What a feature's ``wire(core)`` returns for the controller to run."""

    name: str
    flows: tuple[Flow, ...] = ()
    routes: tuple[RouteAdder, ...] = ()
    tasks: tuple[tuple[str, TaskFactory], ...] = ()
    closers: tuple[Closer, ...] = ()


Wire = Callable[[Core], Awaitable[Feature]]


def ari_retry_policy(settings: Settings) -> RetryPolicy:
    """The retries of idempotent ARI requests, over HTTP and over the event websocket."""
    return RetryPolicy(
        settings.ari_retry_attempts, settings.ari_retry_backoff, settings.ari_retry_backoff_max
    )


async def build_core(settings: Settings, stack: AsyncExitStack, *, clock: Clock = utcnow) -> Core:
    """The core of one controller; everything with a lifetime is closed by ``stack``."""
    engine = make_engine(settings)
    stack.push_async_callback(engine.dispose)
    recorder = build_recorder(settings, engine, controller_id=controller_id())
    await recorder.start()
    stack.push_async_callback(recorder.close)
    metrics = Metrics()
    client = AriClient(
        settings.ari_base_url,
        settings.ari_user,
        settings.require("ari_password"),
        connection_limit=pool_size(settings.ari_sessions, settings.ari_sessions_reserved),
        retry=ari_retry_policy(settings),
        observer=metrics,
    )
    stack.push_async_callback(client.close)
    definitions = LiveDefinitions(project_root() / "dialplan", settings.state_dir / "flows.json")
    definitions.load()
    return assemble_core(
        settings,
        clock=clock,
        engine=engine,
        ari=client,
        cases=recorder,
        prompts=PromptRenderer(settings.in_root(settings.sounds_inner), settings.sounds_inner),
        definitions=definitions,
        metrics=metrics,
    )


def assemble_core(
    settings: Settings,
    *,
    clock: Clock,
    engine: AsyncEngine,
    ari: AriClient,
    cases: CaseRecorder,
    prompts: PromptRenderer,
    definitions: LiveDefinitions,
    users: UserRepository | None = None,
    directory: Directory | None = None,
    restrictions: RestrictionRepository | None = None,
    metrics: Metrics | None = None,
) -> Core:
    """The core around parts already made (:func:`build_core` makes the real ones; unit tests
    give fakes). The rest is built here, on ``engine``'s sessions."""
    sessions = session_factory(engine)
    metrics = metrics or Metrics()
    lag = LoopLag()
    router = FlowRouter({}, events=metrics)
    gate = LoadGate(
        Limits(settings.shed_max_flows, settings.shed_max_ari_inflight, settings.shed_max_loop_lag),
        flows=lambda: router.flows_running + dispatcher.fast_in_flight,
        ari_inflight=lambda: ari.in_flight + ari_ws.in_flight,
        loop_lag=lambda: lag.seconds,
    )
    router.admission = gate
    dispatcher = Dispatcher(ari, router.handle, app=settings.ari_app, fallback_label=SHED_LABEL)
    events = EventStats()

    def on_event(event: dict[str, Any]) -> None:
        events.seen[str(event.get("type"))] += 1
        dispatcher.on_event(event)

    async def on_connected(reconnected: bool) -> None:
        log.info("ARI events connected (reconnect=%s); resyncing live calls", reconnected)
        if settings.ari_event_filter:
            await apply_event_filter(ari, settings.ari_app)
        if settings.ari_ws_requests:
            await ari_ws.probe()
        await dispatcher.resync()

    def end_skipped() -> None:
        events.seen["StasisEnd"] += 1

    stream = EventStream(
        settings.ari_base_url,
        settings.ari_user,
        settings.require("ari_password"),
        settings.ari_app,
        on_event=on_event,
        on_connected=on_connected,
        skip=untracked_end(dispatcher.tracks, end_skipped),
    )
    ari_ws = WsRest(
        stream,
        ari,
        retry=ari_retry_policy(settings),
        observer=metrics,
    )
    stream.replies = ari_ws
    tenants = TenantRepository(sessions)
    users = users or UserRepository(sessions)
    directory = directory or Directory(tenants, users)
    audit = AuditLog(sessions)
    identity = Identity.build(settings, sessions, users.hasher, audit, clock)
    return Core(
        settings=settings,
        clock=clock,
        engine=engine,
        sessions=sessions,
        ari=ari,
        ari_ws=ari_ws,
        dispatcher=dispatcher,
        router=router,
        stream=stream,
        events=events,
        prompts=prompts,
        cases=cases,
        audit=audit,
        definitions=definitions,
        tenants=tenants,
        users=users,
        directory=directory,
        guard=Guard(users, directory, identity, audit=audit),
        restrictions=restrictions or RestrictionRepository(sessions),
        audio=AudioStore(settings.audio_store_dir),
        services=Services(),
        metrics=metrics,
        gate=gate,
        lag=lag,
    )
