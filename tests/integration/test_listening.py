"""The listening API end to end: the aiohttp routes in-process, the real Postgres (a fresh
migrated database per test), real wav files in the audio store, real pydub/ffmpeg conversion.

Shows: a team user of the tenant gets the audio and a listening event appears (written before
the first byte); users of another tenant and external users get 403 and leave no listening
event (an audit row instead); ``../``, absolute and encoded names get 400; swept audio 410;
a dead listening log 503 with no audio.
"""

from __future__ import annotations

import asyncio
import io
import json
import uuid
import zipfile
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from pydub import AudioSegment
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from ivr.app import http_app, load_feature
from ivr.config import Settings
from ivr.core import build_core
from ivr.directory import Directory
from ivr.http.edge import new_app
from ivr.http.guard import Guard
from ivr.http.listening import add_routes
from recording.convert import Converter
from recording.listen import ListeningService
from recording.store import AudioKind, AudioStore
from storage.casewriter import PgCaseWriter
from storage.db import make_engine, session_factory
from storage.domain import Actor, UserInfo
from storage.events import (
    CaseOpened,
    Channel,
    DeletionReason,
    ListenKind,
    RecordingCompleted,
    Role,
    VoiceMessageSaved,
)
from storage.models import Recording
from storage.passwords import Hasher
from storage.recorder import CaseRecorder
from storage.repositories.audit import AuditLog
from storage.repositories.cases import CaseRepository
from storage.repositories.media import ListeningLog, RecordingRepository, VoiceMessageRepository
from storage.repositories.tenants import TenantRepository
from storage.repositories.users import UserRepository
from storage.spool import Spool
from tests.support import basic_auth, closed_tcp_port, write_tone

pytestmark = pytest.mark.integration

SYSTEM = Actor.system("tests")
PASSWORD = "kuuntelu-salasana"
SECONDS = 2.0


@dataclass
class World:
    sessions: async_sessionmaker[AsyncSession]
    store: AudioStore
    client: TestClient[web.Request, web.Application]
    users: dict[str, UserInfo]
    case_id: uuid.UUID
    recording_id: uuid.UUID
    recording_location: str
    voice_id: uuid.UUID
    other_case_id: uuid.UUID

    def auth(self, who: str, password: str = PASSWORD) -> dict[str, str]:
        return basic_auth(self.users[who].login, password)

    async def events(self, case_id: uuid.UUID | None = None) -> list[ListenKind]:
        log = ListeningLog(self.sessions)
        return [e.event_type for e in await log.for_case(case_id or self.case_id)]


async def seed_audio(
    engine: AsyncEngine, store: AudioStore, tmp: Path, tenant_id: uuid.UUID
) -> tuple[uuid.UUID, uuid.UUID, str, uuid.UUID]:
    """A case with one recording and one voice message, written the way the controller
    writes them: files through AudioStore.finalise, rows through the case recorder."""
    case_id, rec_id, vm_id = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    now = datetime.now(UTC)
    rec = store.finalise(
        write_tone(tmp / f"{rec_id}.wav", SECONDS, hz=350, amplitude=9000),
        AudioKind.RECORDING,
        tenant_id,
        rec_id,
        now,
    )
    vm = store.finalise(
        write_tone(tmp / f"{vm_id}.wav", 1.0, hz=350, amplitude=9000),
        AudioKind.VOICE_MESSAGE,
        tenant_id,
        vm_id,
        now,
    )
    recorder = CaseRecorder(PgCaseWriter(engine), Spool(tmp / f"spool-{case_id}", 10**7))
    await recorder.start()
    recorder.emit(
        CaseOpened(case_id, tenant_id, Channel.PHONE, now, "200", caller_number="+358401112223")
    )
    recorder.emit(
        RecordingCompleted(
            case_id, rec_id, "call", rec.location, now, timedelta(seconds=SECONDS),
            rec.size_bytes, rec.sha256,
        )
    )  # fmt: skip
    recorder.emit(
        VoiceMessageSaved(
            case_id, vm_id, "message", vm.location, now, timedelta(seconds=1), vm.size_bytes,
            vm.sha256,
        )
    )  # fmt: skip
    await recorder.close()
    assert recorder.stats().rejected == 0
    return case_id, rec_id, rec.location, vm_id


@pytest.fixture
async def world(scratch_db: Settings, tmp_path: Path) -> AsyncIterator[World]:
    """The recordings feature as ``linja serve`` wires it, on its own state and audio dirs."""
    settings = scratch_db.model_copy(
        update={"state_dir": tmp_path / "state", "audio_dir": tmp_path / "audio"}
    )
    async with AsyncExitStack() as stack:
        core = await build_core(settings, stack)
        tenants = TenantRepository(core.sessions)
        home = await tenants.create(f"a-{uuid.uuid4().hex[:8]}", "Koti Oy", SYSTEM)
        other = await tenants.create(f"b-{uuid.uuid4().hex[:8]}", "Muu Oy", SYSTEM)
        repo = UserRepository(core.sessions, Hasher.fast_for_tests())
        users = {}
        for key, tenant, role in [
            ("admin", home.id, Role.ADMIN),
            ("team", home.id, Role.TEAM),
            ("external", home.id, Role.EXTERNAL),
            ("other_team", other.id, Role.TEAM),
            ("other_admin", other.id, Role.ADMIN),
        ]:
            users[key] = await repo.create(
                tenant_id=tenant, name=key, login=f"{key}-{uuid.uuid4().hex[:6]}",
                password=PASSWORD, role=role, actor=SYSTEM,
            )  # fmt: skip
        store = core.audio
        case_id, rec_id, location, vm_id = await seed_audio(core.engine, store, tmp_path, home.id)
        other_case, _r, _l, _v = await seed_audio(core.engine, store, tmp_path, other.id)
        app = http_app([await load_feature("recordings")(core)])
        client = TestClient(TestServer(app, host="127.0.0.1"))
        await client.start_server()
        stack.push_async_callback(client.close)
        yield World(
            core.sessions, store, client, users, case_id, rec_id, location, vm_id, other_case
        )


async def test_team_user_listens_and_the_event_is_logged(world: World) -> None:
    c = world.client
    path = f"/api/recordings/{world.recording_id}/audio"
    r = await c.get(path, headers=world.auth("team"))
    assert r.status == 200, await r.text()
    # The headers are here, the body not read yet: the event is already committed.
    (event,) = await ListeningLog(world.sessions).for_case(world.case_id)
    body = await r.read()
    stored = world.store.path(world.recording_location).read_bytes()
    assert body == stored
    assert r.headers["Content-Type"] == "audio/wav"
    assert (
        r.headers["Content-Disposition"] == f'inline; filename="recording-{world.recording_id}.wav"'
    )
    assert r.headers["Cache-Control"] == "no-store"
    assert event.event_type is ListenKind.PLAY
    assert event.user_id == world.users["team"].id
    assert event.recording_id == world.recording_id and event.voice_message_id is None
    assert event.link == path  # the request path: no credentials, no query

    # Download of the voice message, by an admin of the tenant, with a query string.
    vm_path = f"/api/voice-messages/{world.voice_id}/audio"
    r = await c.get(vm_path, params={"mode": "download"}, headers=world.auth("admin"))
    assert r.status == 200
    assert r.headers["Content-Disposition"].startswith("attachment;")
    assert len(await r.read()) > 16000  # one second of 8 kHz 16-bit audio
    events = await ListeningLog(world.sessions).for_case(world.case_id)
    assert [e.event_type for e in events] == [ListenKind.PLAY, ListenKind.DOWNLOAD]
    assert events[1].voice_message_id == world.voice_id and events[1].link == vm_path

    # Metadata and the case listing are not audio: no events for them.
    r = await c.get(f"/api/recordings/{world.recording_id}", headers=world.auth("team"))
    meta = await r.json()
    assert meta["sha256"] and meta["duration_seconds"] == SECONDS
    assert meta["links"]["download"].endswith("/audio?mode=download")
    r = await c.get(f"/api/cases/{world.case_id}/audio", headers=world.auth("team"))
    listing = await r.json()
    assert {a["id"] for a in listing["audio"]} == {str(world.recording_id), str(world.voice_id)}
    assert len(await world.events()) == 2


@pytest.mark.parametrize("fmt", ["ogg", "mp3"])
async def test_converted_formats_decode_to_the_recording(world: World, fmt: str) -> None:
    r = await world.client.get(
        f"/api/recordings/{world.recording_id}/audio",
        params={"format": fmt},
        headers=world.auth("team"),
    )
    assert r.status == 200, await r.text()
    assert r.headers["Content-Type"] == {"ogg": "audio/ogg", "mp3": "audio/mpeg"}[fmt]
    assert r.headers["Content-Disposition"].endswith(f'.{fmt}"')
    decoded = AudioSegment.from_file(io.BytesIO(await r.read()), format=fmt)
    assert abs(len(decoded) / 1000 - SECONDS) < 0.15
    assert decoded.dBFS > -30
    assert await world.events() == [ListenKind.PLAY]


async def test_other_tenants_and_external_users_are_refused(world: World) -> None:
    c = world.client
    paths = [
        f"/api/recordings/{world.recording_id}/audio",
        f"/api/voice-messages/{world.voice_id}/audio?mode=download",
        f"/api/audio/{world.recording_location}",
        f"/api/recordings/{world.recording_id}",
        f"/api/cases/{world.case_id}/audio",
    ]
    for who in ["external", "other_team", "other_admin"]:
        for path in paths:
            r = await c.get(path, headers=world.auth(who))
            assert r.status == 403, (who, path, r.status)
            assert "audio/" not in r.headers.get("Content-Type", "")
        r = await c.post(f"/api/cases/{world.case_id}/export", headers=world.auth(who))
        assert r.status == 403
    # Tenant B's own audio is no more reachable for tenant A's users.
    r = await c.get(f"/api/cases/{world.other_case_id}/audio", headers=world.auth("admin"))
    assert r.status == 403
    assert await world.events() == [] and await world.events(world.other_case_id) == []

    refusals = [
        e for e in await AuditLog(world.sessions).recent(limit=100)
        if e.action == "audio.listen_refused"
    ]  # fmt: skip
    assert len(refusals) == 3 * (len(paths) + 1) + 1
    assert {e.actor_user_id for e in refusals} == {
        world.users[k].id for k in ("external", "other_team", "other_admin", "admin")
    }

    for auth in [{}, world.auth("team", "wrong"), {"Authorization": "Basic %%%"}]:
        r = await c.get(f"/api/recordings/{world.recording_id}/audio", headers=auth)
        assert r.status == 401 and r.headers["WWW-Authenticate"].startswith("Basic")
    assert await world.events() == []


async def raw_get(client: TestClient[web.Request, web.Application], target: str, auth: str) -> int:
    """Send a request line exactly as given (an HTTP client would normalise ``..``)."""
    assert client.port is not None
    reader, writer = await asyncio.open_connection("127.0.0.1", client.port)
    try:
        writer.write(
            f"GET {target} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: {auth}\r\n"
            "Connection: close\r\n\r\n".encode()
        )
        await writer.drain()
        status_line = await asyncio.wait_for(reader.readline(), 5)
        return int(status_line.split()[1])
    finally:
        writer.close()


async def test_names_and_parameters_are_validated(world: World) -> None:
    c = world.client
    auth = world.auth("admin")
    header = auth["Authorization"]
    loc = world.recording_location
    tenant, _kind, yyyy, mm, _file = loc.split("/")
    traversal = [
        "/api/audio/../../etc/passwd",
        "/api/audio//etc/passwd",
        "/api/audio/%2e%2e%2f%2e%2e%2fetc%2fpasswd",
        "/api/audio/%2Fetc%2Fpasswd",
        f"/api/audio/{tenant}/recordings/{yyyy}/{mm}/..%2f..%2f..%2f..%2fsecrets.json",
        f"/api/audio/{tenant}/recordings/{yyyy}/{mm}/../../../../{loc}",
        f"/api/audio/{loc}/../x.wav",
        f"/api/audio/{loc.replace('.wav', '.mp3')}",
        "/api/audio/%252e%252e%252fetc%252fpasswd",
    ]
    for target in traversal:
        assert await raw_get(c, target, header) == 400, target
    assert await raw_get(c, f"/api/audio/{loc}", header) == 200

    bad = {
        "/api/recordings/not-a-uuid/audio": 400,
        f"/api/recordings/{world.recording_id}/audio?format=flac": 400,
        f"/api/recordings/{world.recording_id}/audio?mode=stream": 400,
        f"/api/recordings/{world.recording_id}/audio?token=x": 400,
        f"/api/recordings/{world.recording_id}/audio?format=ogg&format=mp3": 400,
        f"/api/recordings/{uuid.uuid4()}/audio": 404,
        f"/api/voice-messages/{world.recording_id}/audio": 404,  # a recording id
        f"/api/cases/{uuid.uuid4()}/audio": 404,
        f"/api/cases/{world.case_id}/audio?x=1": 400,
        f"/api/audio/{tenant}/recordings/{yyyy}/{mm}/{uuid.uuid4()}.wav": 404,
    }
    for path, status in bad.items():
        r = await c.get(path, headers=auth)
        assert r.status == status, (path, r.status, await r.text())
        assert r.content_type == "application/problem+json"
    r = await c.get(f"/api/recordings/{world.recording_id}/audio?format=flac", headers=auth)
    assert "wav, ogg, mp3" in (await r.json())["detail"]
    assert await world.events() == [ListenKind.PLAY]  # the one valid by-name request


async def test_readme_paths_audio_by_name_takes_the_tenant_slug_or_its_uuid(world: World) -> None:
    """Issue 13 item 4: `/api/audio/TENANT/...` as the README writes it, with the tenant's
    slug (before: 400, only the UUID the store is keyed by worked); the UUID still works, an
    unknown slug is a malformed name, and another tenant's slug is refused like its UUID."""
    auth = world.auth("team")
    tenant_id, rest = world.recording_location.split("/", 1)
    slug = (await TenantRepository(world.sessions).get(uuid.UUID(tenant_id))).slug
    by_slug = await world.client.get(f"/api/audio/{slug}/{rest}", headers=auth)
    assert by_slug.status == 200 and by_slug.content_type == "audio/wav"
    by_uuid = await world.client.get(f"/api/audio/{tenant_id}/{rest}", headers=auth)
    assert by_uuid.status == 200 and await by_uuid.read() == await by_slug.read()
    assert (await world.client.get(f"/api/audio/no-such-tenant/{rest}", headers=auth)).status == 400
    other = world.auth("other_team")
    assert (await world.client.get(f"/api/audio/{slug}/{rest}", headers=other)).status == 403
    assert await world.events() == [ListenKind.PLAY, ListenKind.PLAY]


async def test_range_requests_and_swept_audio(world: World) -> None:
    c = world.client
    path = f"/api/recordings/{world.recording_id}/audio"
    stored = world.store.path(world.recording_location).read_bytes()
    r = await c.get(path, headers={"Range": "bytes=100-1123", **world.auth("team")})
    assert r.status == 206
    assert r.headers["Content-Range"] == f"bytes 100-1123/{len(stored)}"
    assert await r.read() == stored[100:1124]
    r = await c.get(path, headers={"Range": f"bytes={len(stored)}-", **world.auth("team")})
    assert r.status == 416 and r.headers["Content-Range"] == f"bytes */{len(stored)}"

    # The sweeper: file deleted, row tombstoned. 410 from then on, and no new events.
    before = len(await world.events())
    world.store.delete(world.recording_location)
    r = await c.get(path, headers=world.auth("team"))
    assert r.status == 410  # file gone, row not marked yet (the sweeper's order)
    await RecordingRepository(world.sessions).mark_deleted(
        world.recording_id, DeletionReason.RETENTION
    )
    for p in [path, f"{path}?format=mp3", f"/api/audio/{world.recording_location}"]:
        r = await c.get(p, headers=world.auth("team"))
        assert r.status == 410 and "retention" in (await r.json())["detail"]
    assert len(await world.events()) == before
    r = await c.get(f"/api/recordings/{world.recording_id}", headers=world.auth("team"))
    assert (await r.json())["deletion_reason"] == "retention"  # metadata stays visible


async def test_metadata_shows_status_and_hold_and_audio_being_deleted_is_not_served(
    world: World,
) -> None:
    c, path = world.client, f"/api/recordings/{world.recording_id}"
    r = await c.get(path, headers=world.auth("team"))
    meta = await r.json()
    assert (meta["status"], meta["failure_reason"], meta["legal_hold"]) == (
        "completed",
        None,
        False,
    )
    before = len(await world.events())
    # The sweeper has claimed it (deletion intent committed) but not unlinked the file yet.
    async with world.sessions.begin() as s:
        await s.execute(
            update(Recording)
            .where(Recording.id == world.recording_id)
            .values(deleting_since=datetime.now(UTC), deleting_reason="retention")
        )
    r = await c.get(f"{path}/audio", headers=world.auth("team"))
    assert r.status == 410 and "being deleted" in (await r.json())["detail"]
    assert len(await world.events()) == before  # nothing served, nothing logged


async def test_export_zip_with_one_event_per_file(world: World) -> None:
    r = await world.client.post(f"/api/cases/{world.case_id}/export", headers=world.auth("admin"))
    assert r.status == 200, await r.text()
    assert r.headers["Content-Type"] == "application/zip"
    assert r.headers["Content-Disposition"] == f'attachment; filename="case-{world.case_id}.zip"'
    z = zipfile.ZipFile(io.BytesIO(await r.read()))
    meta = json.loads(z.read("metadata.json"))
    rec_member = f"recordings/{world.recording_id}.wav"
    assert z.read(rec_member) == world.store.path(world.recording_location).read_bytes()
    assert {f["file"] for f in meta["files"]} == {
        rec_member,
        f"voice_messages/{world.voice_id}.wav",
    }
    events = await ListeningLog(world.sessions).for_case(world.case_id)
    assert sorted(e.event_type for e in events) == [ListenKind.EXPORT, ListenKind.EXPORT]
    assert {e.recording_id for e in events} == {world.recording_id, None}
    assert {e.voice_message_id for e in events} == {world.voice_id, None}
    assert all(e.user_id == world.users["admin"].id for e in events)
    assert all(e.link.startswith(f"/api/cases/{world.case_id}/export#") for e in events)


async def test_listening_log_down_means_503_and_no_audio(
    world: World, scratch_db: Settings, tmp_path: Path
) -> None:
    """Everything works except the listening log, whose database is down: nothing is sent."""
    down = make_engine(scratch_db.model_copy(update={"pg_port": closed_tcp_port()}), pool_size=1)
    repo = UserRepository(world.sessions, Hasher.fast_for_tests())
    service = ListeningService(
        recordings=RecordingRepository(world.sessions),
        voice_messages=VoiceMessageRepository(world.sessions),
        cases=CaseRepository(world.sessions),
        events=ListeningLog(session_factory(down)),
        store=world.store,
        converter=Converter(tmp_path / "down" / "converted"),
        workdir=tmp_path / "down",
    )
    app = new_app()
    tenants = Directory(TenantRepository(world.sessions), repo)
    add_routes(app, service, Guard(repo, tenants, audit=AuditLog(world.sessions)))
    async with TestClient(TestServer(app, host="127.0.0.1")) as client:
        for path in [
            f"/api/recordings/{world.recording_id}/audio",
            f"/api/voice-messages/{world.voice_id}/audio?format=ogg&mode=download",
        ]:
            r = await client.get(path, headers=world.auth("team"))
            assert r.status == 503
            assert r.content_type == "application/problem+json"
            assert b"RIFF" not in await r.read()
        r = await client.post(f"/api/cases/{world.case_id}/export", headers=world.auth("team"))
        assert r.status == 503 and r.content_type == "application/problem+json"
    await down.dispose()
    assert await world.events() == []


async def test_tenant_admins_read_the_listening_log(world: World) -> None:
    c = world.client
    await c.get(f"/api/recordings/{world.recording_id}/audio", headers=world.auth("team"))
    path = f"/api/cases/{world.case_id}/listening-events"
    r = await c.get(path, headers=world.auth("admin"))
    assert r.status == 200
    (event,) = (await r.json())["events"]
    assert event["type"] == "play" and event["user_id"] == str(world.users["team"].id)
    assert event["recording_id"] == str(world.recording_id)
    for who in ["team", "external", "other_admin"]:
        r = await c.get(path, headers=world.auth(who))
        assert r.status == 403, who
