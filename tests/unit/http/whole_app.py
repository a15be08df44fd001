"""The whole HTTP API as ``linja serve`` builds it, every module's routes on one app.

One function, :func:`build_whole_app`, so the wiring can later be swapped for the feature
modules' ``wire(core)`` without touching the tests that use it. Real repositories on a real
engine; the tests point it at a Postgres port where nothing listens.
"""

from __future__ import annotations

import uuid
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncEngine

from ivr.bulletins.service import BulletinService, Paths
from ivr.callcenter.coordinator import QueueCoordinator
from ivr.callcenter.engine import QueueEngine
from ivr.config import Settings
from ivr.directory import Directory
from ivr.http.agents import add_routes as add_agent_routes
from ivr.http.console import ConsoleDeps, build_app
from ivr.http.contacts import ContactDeps
from ivr.http.contacts import add_routes as add_contact_routes
from ivr.http.guard import Guard
from ivr.http.listening import add_routes as add_listening_routes
from ivr.http.recordings_control import add_routes as add_recording_control_routes
from ivr.http.subjects import add_routes as add_subject_routes
from recording.bridge import LiveRecordings
from recording.convert import Converter
from recording.listen import ListeningService
from recording.store import AudioStore
from retention.rights import SubjectRights
from storage.db import make_engine, session_factory
from storage.passwords import Hasher
from storage.repositories.audit import AuditLog
from storage.repositories.bulletins import BulletinRepository
from storage.repositories.cases import CaseRepository
from storage.repositories.contact_requests import ContactRequestRepository
from storage.repositories.media import ListeningLog, RecordingRepository, VoiceMessageRepository
from storage.repositories.tenants import TenantRepository
from storage.repositories.users import UserRepository

INTAKE_SECRET = "edge-tests-intake-secret"
AGENTS = frozenset({"agent1"})


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass
class _NoCalls:
    active_calls: int = 0


def build_whole_app(settings: Settings, state: Path) -> tuple[web.Application, AsyncEngine]:
    """The HTTP application with every module's routes (as :func:`ivr.app.serve` wires
    them), on an engine for ``settings``; dispose of the engine when done."""
    engine = make_engine(settings, pool_size=2)
    sessions = session_factory(engine)
    users = UserRepository(sessions, Hasher.fast_for_tests())
    guard = Guard(users, Directory(TenantRepository(sessions), users))
    store = AudioStore(state / "audio")
    bulletins = BulletinService(
        BulletinRepository(sessions),
        Paths(sounds_host=state / "sounds", sounds_inner="/sounds", fallback_host=state / "fb"),
        _now,
    )
    app = build_app(ConsoleDeps(bulletins, _NoCalls(), _now, lambda: False, Counter()))
    add_agent_routes(app, QueueCoordinator(QueueEngine({}), _now), guard, lambda: set(AGENTS))
    add_contact_routes(
        app,
        ContactDeps(
            requests=ContactRequestRepository(sessions),
            clock=_now,
            intake_secret=INTAKE_SECRET,
            queues_of=lambda _tenant: None,
        ),
        guard,
    )
    listening = ListeningService(
        recordings=RecordingRepository(sessions),
        voice_messages=VoiceMessageRepository(sessions),
        cases=CaseRepository(sessions),
        events=ListeningLog(sessions),
        store=store,
        converter=Converter(state / "listen" / "converted"),
        workdir=state / "listen",
        audit=AuditLog(sessions),
    )
    add_listening_routes(app, listening, guard)
    add_recording_control_routes(app, LiveRecordings(_now), guard)
    add_subject_routes(app, SubjectRights(sessions, store, _now), guard, state / "exports")
    return app, engine


# Plausible values for the routes' match_info, tried in order until the route matches.
SAMPLE_VALUES: dict[str, tuple[str, ...]] = {
    "agent": ("agent1",),
    "action": ("login", "pause", "complete"),
    "id": (str(uuid.UUID(int=7)),),
    "case_id": (str(uuid.UUID(int=8)),),
    "tenant": ("demo",),
    "channel": ("sms",),
    "name": (f"demo/recordings/2026/11/{uuid.UUID(int=9)}.wav",),
}
