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
import uuid
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
from ivr.callbacks.dialer import CallbackDialer, DialerConfig
from ivr.callcenter.agents import AgentBoard
from ivr.callcenter.coordinator import QueueCoordinator
from ivr.callcenter.engine import QueueEngine
from ivr.callcenter.store import FileAgentStore
from ivr.clock import Clock, utcnow
from ivr.config import Settings, project_root
from ivr.directory import Directory
from ivr.flowdefs.live import LiveDefinitions
from ivr.flows.agent_login import AgentLoginFlow
from ivr.flows.announcement import AnnouncementFlow
from ivr.flows.bridging import Bridger
from ivr.flows.callback import CallbackFlow
from ivr.flows.menu import MenuFlow
from ivr.flows.notice import NoticeFlow
from ivr.flows.queue import QueueFlow
from ivr.flows.router import FlowRouter
from ivr.flows.voicemail import VoicemailFlow
from ivr.http.agents import add_routes as add_agent_routes
from ivr.http.console import ConsoleDeps, build_app
from ivr.http.contacts import ContactDeps, queues_from
from ivr.http.contacts import add_routes as add_contact_routes
from ivr.http.listening import add_routes as add_listening_routes
from ivr.http.recordings_control import add_routes as add_recording_control_routes
from ivr.http.subjects import add_routes as add_subject_routes
from ivr.prompts import PromptRenderer
from recording.attached import AttachedRecordings
from recording.bridge import BridgeRecorder, LiveRecordings
from recording.convert import Converter
from recording.finalise import Finaliser
from recording.listen import ListeningService
from recording.recovery import OrphanRecovery
from recording.store import AudioStore
from retention.periodic import run_periodic
from retention.rights import SubjectRights
from retention.sweeper import SweepConfig, Sweeper
from storage.casewriter import build_recorder
from storage.db import make_engine, session_factory
from storage.repositories.audit import AuditLog
from storage.repositories.bulletins import BulletinRepository, CounterRepository
from storage.repositories.callbacks import CallbackRepository
from storage.repositories.cases import CaseRepository
from storage.repositories.contact_requests import ContactRequestRepository
from storage.repositories.media import (
    AudioRows,
    ListeningLog,
    RecordingRepository,
    VoiceMessageRepository,
)
from storage.repositories.restrictions import RestrictionRepository
from storage.repositories.sweep import SweepLock, SweepRepository
from storage.repositories.tenants import TenantRepository
from storage.repositories.users import UserRepository

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
        recorder = build_recorder(settings, engine)
        await recorder.start()
        stack.push_async_callback(recorder.close)

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

        definitions = LiveDefinitions(
            project_root() / "dialplan", settings.state_dir / "flows.json"
        )
        agent_store = FileAgentStore(settings.state_dir / "agents-state.json")
        saved_agents = agent_store.load()
        engine_q = QueueEngine(
            {}, AgentBoard.restore(saved_agents, clock()) if saved_agents else None
        )
        coordinator = QueueCoordinator(engine_q, clock, store=agent_store)
        definitions.on_change(lambda _flows: engine_q.set_queues(definitions.queues()))
        definitions.load()
        stack.push_async_callback(coordinator.flush_agents)
        users = UserRepository(sessions)
        directory = Directory(TenantRepository(sessions), users)
        prompts = PromptRenderer(settings.in_root(settings.sounds_inner), settings.sounds_inner)
        announcement = AnnouncementFlow(bulletins, counter, clock)
        router = FlowRouter({"announcement": announcement})
        dispatcher = Dispatcher(client, router.handle, app=settings.ari_app)
        finaliser = Finaliser(
            AudioStore(settings.audio_store_dir), settings.in_root(settings.recordings_inner)
        )
        live_recordings = LiveRecordings(clock)
        notice = NoticeFlow(prompts, clock)
        bridger = Bridger(BridgeRecorder(finaliser, recorder, clock, live_recordings))
        # Callbacks record onto cases opened earlier (maybe elsewhere): rows go straight in.
        attached = AttachedRecordings(AudioRows(sessions))
        stack.push_async_callback(attached.close)
        callback_bridger = Bridger(BridgeRecorder(finaliser, attached, clock, live_recordings))
        cases = CaseRepository(sessions)

        async def tenant_of(case_id: uuid.UUID) -> uuid.UUID:
            return (await cases.get(case_id)).tenant_id

        recovery = OrphanRecovery(
            finaliser,
            attached,
            tenant_of,
            clock,
            live=lambda: [r.name for r in live_recordings.all()],
            min_age=settings.recording_orphan_age,
        )
        dialer = CallbackDialer(
            CallbackRepository(sessions),
            coordinator,
            definitions,
            client,
            dispatcher.adopt,
            dispatcher.release,
            prompts,
            directory,
            callback_bridger,
            clock,
            DialerConfig(
                controller_id=f"{os.uname().nodename}:{os.getpid()}",
                app=settings.ari_app,
                trunk=settings.callback_trunk,
                poll_interval=settings.callback_poll_interval,
                lease=settings.callback_lease,
                retry_delay=settings.callback_retry_delay,
            ),
            restrictions=RestrictionRepository(sessions),
            notice=notice,
        )
        restrictions = RestrictionRepository(sessions)
        voicemail = VoicemailFlow(prompts, finaliser, recorder, clock, restrictions=restrictions)
        callback_flow = CallbackFlow(
            prompts,
            recorder,
            clock,
            on_request=dialer.notify,
            voicemail=voicemail,
            restrictions=restrictions,
        )
        queue_flow = QueueFlow(
            coordinator,
            prompts,
            recorder,
            directory,
            dispatcher.adopt,
            dispatcher.release,
            clock,
            bridger=bridger,
            notice=notice,
            restrictions=restrictions,
            callback=callback_flow,
            app=settings.ari_app,
        )
        router.add(
            MenuFlow(
                definitions,
                directory,
                prompts,
                queue_flow,
                announcement,
                recorder,
                clock,
                notice=notice,
                voicemail=voicemail,
                callback=callback_flow,
            )
        )
        router.add(AgentLoginFlow(coordinator, users, prompts, definitions))

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
            asyncio.create_task(coordinator.run(), name="queues"),
            asyncio.create_task(dialer.run(), name="callback-dialer"),
            asyncio.create_task(
                recovery.run(interval=min(60.0, max(1.0, settings.recording_orphan_age / 2))),
                name="recording-recovery",
            ),
            asyncio.create_task(definitions.watch(), name="definitions"),
            asyncio.create_task(
                run_periodic(
                    Sweeper(
                        SweepRepository(sessions),
                        SweepLock(engine),
                        CaseRepository(sessions),
                        AudioStore(settings.audio_store_dir),
                        clock,
                        SweepConfig(batch=settings.sweep_batch),
                    ),
                    settings.sweep_interval,
                ),
                name="retention-sweep",
            ),
        ]
        for task in background:
            stack.push_async_callback(_cancel, task)
        stream_task = asyncio.create_task(stream.run(), name="ari-events")

        async def stop_stream() -> None:
            await stream.stop()
            await _cancel(stream_task)

        stack.push_async_callback(dispatcher.shutdown)
        stack.push_async_callback(stop_stream)

        http_app = build_app(
            ConsoleDeps(bulletins, dispatcher, clock, lambda: stream.connected, events_seen)
        )
        add_agent_routes(http_app, coordinator, users, definitions.agents)
        intake_secret = settings.intake_secret
        add_contact_routes(
            http_app,
            ContactDeps(
                requests=ContactRequestRepository(sessions),
                tenants=directory,
                users=users,
                clock=clock,
                intake_secret=intake_secret.get_secret_value() if intake_secret else None,
                queues_of=queues_from(definitions),
            ),
        )
        listen_dir = settings.state_dir / "listen-cache"
        listening = ListeningService(
            recordings=RecordingRepository(sessions),
            voice_messages=VoiceMessageRepository(sessions),
            cases=CaseRepository(sessions),
            events=ListeningLog(sessions),
            store=AudioStore(settings.audio_store_dir),
            converter=Converter(listen_dir / "converted"),
            workdir=listen_dir,
            audit=AuditLog(sessions),
        )
        add_listening_routes(http_app, listening, users)
        add_recording_control_routes(http_app, live_recordings, users)
        add_subject_routes(
            http_app,
            SubjectRights(sessions, AudioStore(settings.audio_store_dir), clock),
            users,
            settings.state_dir / "exports",
        )
        runner = web.AppRunner(http_app, access_log=None)
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
