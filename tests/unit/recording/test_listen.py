"""The listening service on fakes: the access policy, "log first, then send", and every
refusal leaving no listening event."""

from __future__ import annotations

import io
import json
import uuid
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, BinaryIO

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from ivr.http.edge import new_app
from ivr.http.guard import Guard
from ivr.http.listening import RangeNotSatisfiable, add_routes, parse_range
from recording.convert import AudioFormat, ConversionFailed, ConverterBusy
from recording.listen import (
    AccessDenied,
    AudioGone,
    AudioNotFound,
    AudioType,
    BadRequest,
    ListeningService,
    ListenUnavailable,
    NotConvertible,
    may_listen,
    parse_id,
)
from recording.store import AudioKind, AudioStore
from storage.domain import Actor, AudioView, AuditEntryView, CaseView, ListeningEventView, UserInfo
from storage.errors import NotFound, StorageUnavailable
from storage.events import Channel, DeletionReason, ListenKind, Role

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
TENANT, OTHER = uuid.uuid4(), uuid.uuid4()


def user(role: Role, tenant: uuid.UUID | None = TENANT, **kw: Any) -> UserInfo:
    return UserInfo(
        id=uuid.uuid4(),
        tenant_id=tenant,
        name="N",
        login=f"{role.value}-{uuid.uuid4().hex[:6]}",
        email=None,
        role=role,
        phone_number=None,
        phone_login=None,
        has_phone_pin=False,
        created_at=NOW,
        disabled_at=kw.get("disabled_at"),
    )


class FakeRepo:
    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.rows: dict[uuid.UUID, AudioView] = {}
        self.down = False

    async def get(self, audio_id: uuid.UUID) -> AudioView:
        if self.down:
            raise StorageUnavailable("down")
        if audio_id not in self.rows:
            raise NotFound(self.kind, audio_id)
        return self.rows[audio_id]

    async def for_case(self, case_id: uuid.UUID) -> list[AudioView]:
        return [a for a in self.rows.values() if a.case_id == case_id]


class FakeCases:
    def __init__(self) -> None:
        self.rows: dict[uuid.UUID, CaseView] = {}

    async def get(self, case_id: uuid.UUID) -> CaseView:
        if case_id not in self.rows:
            raise NotFound("case", case_id)
        return self.rows[case_id]


@dataclass
class FakeEvents:
    written: list[dict[str, Any]] = field(default_factory=list)
    down: bool = False
    open_files_at_write: list[bool] = field(default_factory=list)

    async def record(self, **kw: Any) -> ListeningEventView:
        if self.down:
            raise StorageUnavailable("database unavailable")
        self.written.append(kw)
        return ListeningEventView(
            id=uuid.uuid4(),
            at=kw["at"],
            event_type=kw["kind"],
            tenant_id=TENANT,
            case_id=kw["case_id"],
            link=kw["link"],
            recording_id=kw.get("recording_id"),
            voice_message_id=kw.get("voice_message_id"),
            user_id=kw["user_id"],
        )


@dataclass
class FakeAudit:
    entries: list[tuple[str, Actor, dict[str, Any]]] = field(default_factory=list)

    async def append(
        self, action: str, actor: Actor, *, details: Mapping[str, Any] | None = None, **kw: Any
    ) -> AuditEntryView:
        self.entries.append((action, actor, {**kw, **(details or {})}))
        return None  # type: ignore[return-value]


class FakeConverter:
    def __init__(self) -> None:
        self.error: Exception | None = None
        self.calls: list[tuple[Path, AudioFormat, str]] = []

    async def open(self, source: Path, fmt: AudioFormat, key: str) -> BinaryIO:
        self.calls.append((source, fmt, key))
        if self.error is not None:
            raise self.error
        if fmt is AudioFormat.WAV:
            return source.open("rb")
        with source.open("rb") as f:
            return io.BytesIO(b"converted:" + f.read())


class World:
    def __init__(self, tmp: Path) -> None:
        self.store = AudioStore(tmp / "store")
        self.recordings, self.voice = FakeRepo("recording"), FakeRepo("voice_message")
        self.cases, self.events, self.audit = FakeCases(), FakeEvents(), FakeAudit()
        self.converter = FakeConverter()
        self.tmp = tmp
        self.service = ListeningService(
            recordings=self.recordings,
            voice_messages=self.voice,
            cases=self.cases,
            events=self.events,
            store=self.store,
            converter=self.converter,
            workdir=tmp / "work",
            audit=self.audit,
        )

    def case(self, tenant: uuid.UUID = TENANT) -> uuid.UUID:
        cid = uuid.uuid4()
        self.cases.rows[cid] = CaseView(
            id=cid, tenant_id=tenant, service_number="200", channel=Channel.PHONE,
            caller_name=None, caller_email=None, caller_number="+358401234567",
            started_at=NOW, service_started_at=None, agent_id=None, ended_at=None,
            outcome=None, delay_before_service=None, queue_wait=None, service_time=None,
            total_time=None, restricted_at=None, personal_data_erased_at=None,
        )  # fmt: skip
        return cid

    def audio(
        self, case_id: uuid.UUID, kind: AudioType = AudioType.RECORDING, body: bytes = b"RIFFwav"
    ) -> AudioView:
        tenant = self.cases.rows[case_id].tenant_id
        aid = uuid.uuid4()
        src = self.tmp / f"{aid}.src"
        src.write_bytes(body)
        stored = self.store.finalise(src, kind.store_kind, tenant, aid, NOW)
        view = AudioView(
            kind=kind.value, id=aid, tenant_id=tenant, case_id=case_id, name="call",
            location=stored.location, completed_at=NOW, duration=timedelta(seconds=3),
            size_bytes=stored.size_bytes, sha256=stored.sha256, deleted_at=None,
            deletion_reason=None,
        )  # fmt: skip
        repo = self.recordings if kind is AudioType.RECORDING else self.voice
        repo.rows[aid] = view
        return view


@pytest.fixture
def w(tmp_path: Path) -> World:
    return World(tmp_path)


def test_policy_admin_and_team_of_the_tenant_only() -> None:
    assert may_listen(user(Role.ADMIN), TENANT)
    assert may_listen(user(Role.TEAM), TENANT)
    assert not may_listen(user(Role.EXTERNAL), TENANT)
    assert not may_listen(user(Role.ADMIN, OTHER), TENANT)
    assert not may_listen(user(Role.TEAM, OTHER), TENANT)
    assert not may_listen(user(Role.OPERATOR, None), TENANT)  # no tenant: not "of the tenant"
    assert not may_listen(user(Role.TEAM, disabled_at=NOW), TENANT)


async def test_team_user_gets_audio_after_the_event_is_written(w: World) -> None:
    case_id = w.case()
    rec = w.audio(case_id, body=b"RIFF....audio")
    listener = user(Role.TEAM)
    payload = await w.service.open(
        AudioType.RECORDING, rec.id, listener, mode=ListenKind.PLAY, fmt=AudioFormat.WAV,
        link=f"/api/recordings/{rec.id}/audio",
    )  # fmt: skip
    assert len(w.events.written) == 1  # committed before anything could be sent
    event = w.events.written[0]
    assert event["kind"] is ListenKind.PLAY and event["user_id"] == listener.id
    assert event["case_id"] == case_id and event["recording_id"] == rec.id
    assert event["voice_message_id"] is None and event["link"] == f"/api/recordings/{rec.id}/audio"
    assert payload.events[0].link == event["link"]
    assert payload.file.read() == b"RIFF....audio" and payload.size == 13
    assert payload.filename == f"recording-{rec.id}.wav" and payload.content_type == "audio/wav"
    payload.close()


async def test_voice_message_download_converted(w: World) -> None:
    case_id = w.case()
    vm = w.audio(case_id, AudioType.VOICE_MESSAGE)
    payload = await w.service.open(
        AudioType.VOICE_MESSAGE, vm.id, user(Role.ADMIN), mode=ListenKind.DOWNLOAD,
        fmt=AudioFormat.MP3, link="/x",
    )  # fmt: skip
    assert payload.content_type == "audio/mpeg" and payload.filename.endswith(".mp3")
    assert payload.file.read() == b"converted:RIFFwav"
    (_src, _fmt, key) = w.converter.calls[0]
    assert key == f"{vm.id}-{vm.sha256}"
    (event,) = w.events.written
    assert event["voice_message_id"] == vm.id and event["recording_id"] is None
    assert event["kind"] is ListenKind.DOWNLOAD
    payload.close()


@pytest.mark.parametrize(
    "who", [user(Role.EXTERNAL), user(Role.ADMIN, OTHER), user(Role.TEAM, OTHER)]
)
async def test_refused_users_get_no_audio_and_no_event_but_an_audit_row(
    w: World, who: UserInfo
) -> None:
    rec = w.audio(w.case())
    with pytest.raises(AccessDenied):
        await w.service.open(
            AudioType.RECORDING, rec.id, who, mode=ListenKind.PLAY, fmt=AudioFormat.WAV, link="/x"
        )
    assert w.events.written == [] and w.converter.calls == []
    (action, actor, details) = w.audit.entries[0]
    assert action == "audio.listen_refused" and actor.user_id == who.id
    assert details["tenant_id"] == TENANT and details["target_id"] == rec.id
    with pytest.raises(AccessDenied):
        await w.service.describe(AudioType.RECORDING, rec.id, who)
    with pytest.raises(AccessDenied):
        await w.service.export_case(rec.case_id, who, link="/e")
    assert w.events.written == []


async def test_users_who_may_never_listen_learn_nothing_about_ids(w: World) -> None:
    for who in [user(Role.EXTERNAL), user(Role.OPERATOR, None), user(Role.TEAM, disabled_at=NOW)]:
        with pytest.raises(AccessDenied):  # not 404: existence is not revealed
            await w.service.open(
                AudioType.RECORDING, uuid.uuid4(), who, mode=ListenKind.PLAY,
                fmt=AudioFormat.WAV, link="/x",
            )  # fmt: skip
        with pytest.raises(AccessDenied):
            await w.service.case_audio(uuid.uuid4(), who)
    assert len(w.audit.entries) == 6 and w.events.written == []


async def test_listening_log_down_means_nothing_is_handed_out(w: World) -> None:
    rec = w.audio(w.case())
    w.events.down = True
    opened: list[BinaryIO] = []
    real_open = w.converter.open

    async def tracking(source: Path, fmt: AudioFormat, key: str) -> BinaryIO:
        f = await real_open(source, fmt, key)
        opened.append(f)
        return f

    w.converter.open = tracking  # type: ignore[method-assign]
    with pytest.raises(ListenUnavailable):
        await w.service.open(
            AudioType.RECORDING, rec.id, user(Role.TEAM), mode=ListenKind.PLAY,
            fmt=AudioFormat.WAV, link="/x",
        )  # fmt: skip
    assert opened and all(f.closed for f in opened)


async def test_deleted_missing_and_unknown_audio(w: World) -> None:
    case_id = w.case()
    team = user(Role.TEAM)
    swept = w.audio(case_id)
    w.recordings.rows[swept.id] = replace(
        swept, deleted_at=NOW, deletion_reason=DeletionReason.RETENTION
    )
    with pytest.raises(AudioGone, match="retention"):
        await w.service.open(
            AudioType.RECORDING,
            swept.id,
            team,
            mode=ListenKind.PLAY,
            fmt=AudioFormat.WAV,
            link="/x",
        )
    vanished = w.audio(case_id)
    w.store.delete(vanished.location)  # the sweeper removed the file but did not mark it yet
    with pytest.raises(AudioGone):
        await w.service.open(
            AudioType.RECORDING, vanished.id, team, mode=ListenKind.PLAY, fmt=AudioFormat.OGG,
            link="/x",
        )  # fmt: skip
    with pytest.raises(AudioNotFound):
        await w.service.open(
            AudioType.RECORDING, uuid.uuid4(), team, mode=ListenKind.PLAY, fmt=AudioFormat.WAV,
            link="/x",
        )  # fmt: skip
    with pytest.raises(AudioNotFound):  # a voice message id asked for as a recording
        vm = w.audio(case_id, AudioType.VOICE_MESSAGE)
        await w.service.open(
            AudioType.RECORDING, vm.id, team, mode=ListenKind.PLAY, fmt=AudioFormat.WAV, link="/x"
        )
    assert w.events.written == []


async def test_conversion_problems_map_to_errors_without_events(w: World) -> None:
    rec = w.audio(w.case())
    team = user(Role.TEAM)
    for error, expected in [
        (ConverterBusy("busy"), ListenUnavailable),
        (ConversionFailed("bad"), NotConvertible),
    ]:
        w.converter.error = error
        with pytest.raises(expected):
            await w.service.open(
                AudioType.RECORDING, rec.id, team, mode=ListenKind.PLAY, fmt=AudioFormat.OGG,
                link="/x",
            )  # fmt: skip
    assert w.events.written == []


@pytest.mark.parametrize(
    "name",
    [
        "../../etc/passwd",
        "/etc/passwd",
        "%2e%2e%2fetc%2fpasswd",
        f"{TENANT}/recordings/2026/11/../../../../../etc/passwd",
        f"{TENANT}/recordings/2026/11/{uuid.uuid4()}.wav/../x.wav",
        f"{TENANT}/other/2026/11/{uuid.uuid4()}.wav",
        f"{TENANT}/recordings/2026/11/{uuid.uuid4()}.mp3",
        f"/{TENANT}/recordings/2026/11/{uuid.uuid4()}.wav",
        "",
    ],
    # Fixed ids: the names hold random uuids, and parallel workers must collect the same ids.
    ids=[
        "dotdot",
        "absolute",
        "encoded",
        "dotdot-in-layout",
        "dotdot-after-file",
        "other-kind",
        "mp3",
        "leading-slash",
        "empty",
    ],
)
async def test_names_outside_the_store_layout_are_bad_requests(w: World, name: str) -> None:
    with pytest.raises(BadRequest):
        await w.service.open_by_location(
            name, user(Role.ADMIN), mode=ListenKind.PLAY, fmt=AudioFormat.WAV, link="/x"
        )
    assert w.events.written == []


async def test_by_location_finds_the_row_and_checks_it_matches(w: World) -> None:
    case_id = w.case()
    vm = w.audio(case_id, AudioType.VOICE_MESSAGE)
    payload = await w.service.open_by_location(
        vm.location, user(Role.TEAM), mode=ListenKind.PLAY, fmt=AudioFormat.WAV, link="/n"
    )
    payload.close()
    assert w.events.written[0]["voice_message_id"] == vm.id
    # Well-formed but pointing elsewhere: another tenant prefix with a real id.
    forged = vm.location.replace(str(TENANT), str(OTHER))
    with pytest.raises(AudioNotFound):
        await w.service.open_by_location(
            forged, user(Role.ADMIN, OTHER), mode=ListenKind.PLAY, fmt=AudioFormat.WAV, link="/n"
        )
    assert AudioKind.VOICE_MESSAGE.value in vm.location


async def test_export_zips_present_audio_with_one_event_per_file(w: World) -> None:
    case_id = w.case()
    rec = w.audio(case_id, body=b"RIFF-recording")
    vm = w.audio(case_id, AudioType.VOICE_MESSAGE, body=b"RIFF-voice")
    swept = w.audio(case_id)
    w.recordings.rows[swept.id] = replace(
        swept, deleted_at=NOW, deletion_reason=DeletionReason.ERASURE
    )
    admin = user(Role.ADMIN)
    payload = await w.service.export_case(case_id, admin, link=f"/api/cases/{case_id}/export")
    assert len(w.events.written) == 2
    assert {e["kind"] for e in w.events.written} == {ListenKind.EXPORT}
    assert {e["link"] for e in w.events.written} == {
        f"/api/cases/{case_id}/export#recordings/{rec.id}.wav",
        f"/api/cases/{case_id}/export#voice_messages/{vm.id}.wav",
    }
    data = payload.file.read()
    assert len(data) == payload.size and payload.content_type == "application/zip"
    payload.close()
    z = zipfile.ZipFile(io.BytesIO(data))
    assert z.read(f"recordings/{rec.id}.wav") == b"RIFF-recording"
    assert z.read(f"voice_messages/{vm.id}.wav") == b"RIFF-voice"
    meta = json.loads(z.read("metadata.json"))
    assert meta["case_id"] == str(case_id) and meta["exported_by"]["user_id"] == str(admin.id)
    assert {f["sha256"] for f in meta["files"]} == {rec.sha256, vm.sha256}
    assert meta["not_included"][0]["id"] == str(swept.id)
    assert "+358" not in json.dumps(meta)  # the caller's number is not part of an audio export
    assert list((w.tmp / "work").iterdir()) == []  # the bundle was an anonymous temp file


async def test_export_of_a_case_without_audio(w: World) -> None:
    with pytest.raises(AudioNotFound):
        await w.service.export_case(w.case(), user(Role.ADMIN), link="/e")
    with pytest.raises(AudioNotFound):
        await w.service.export_case(uuid.uuid4(), user(Role.ADMIN), link="/e")


async def test_database_down_while_looking_up_is_unavailable(w: World) -> None:
    w.recordings.down = True
    with pytest.raises(ListenUnavailable):
        await w.service.describe(AudioType.RECORDING, uuid.uuid4(), user(Role.TEAM))


def test_ids_must_be_canonical_uuids() -> None:
    u = uuid.uuid4()
    assert parse_id(str(u), "id") == u
    assert parse_id(str(u).upper(), "id") == u
    for bad in ["", "x", "../etc", f"{{{u}}}", f"urn:uuid:{u}", u.hex, f"{u}/../x", f" {u}"]:
        with pytest.raises(BadRequest):
            parse_id(bad, "id")


@pytest.mark.parametrize(
    ("header", "size", "expected"),
    [
        (None, 100, None),
        ("bytes=0-9", 100, (0, 9)),
        ("bytes=90-", 100, (90, 99)),
        ("bytes=-10", 100, (90, 99)),
        ("bytes=-1000", 100, (0, 99)),
        ("bytes=50-5000", 100, (50, 99)),
        ("bytes=0-1,5-6", 100, None),  # multi-range: whole file
        ("items=0-1", 100, None),
    ],
)
def test_range_header(header: str | None, size: int, expected: tuple[int, int] | None) -> None:
    assert parse_range(header, size) == expected


@pytest.mark.parametrize("header", ["bytes=100-", "bytes=5-1", "bytes=-0", "bytes=-", "bytes=a-b"])
def test_unsatisfiable_ranges(header: str) -> None:
    with pytest.raises(RangeNotSatisfiable):
        parse_range(header, 100)


class NoTenants:
    async def tenant_id(self, slug: str) -> uuid.UUID | None:
        return None


async def test_routes_leave_the_live_recordings_listing_alone(w: World) -> None:
    class NoUsers:
        async def authenticate(self, login: str, password: str) -> UserInfo | None:
            return None

    async def live(_: web.Request) -> web.Response:
        return web.Response(text="live")

    app = new_app()
    add_routes(app, w.service, Guard(NoUsers(), NoTenants(), audit=FakeAudit()))
    app.router.add_get("/api/recordings/live", live)  # registered after ours, still reached
    async with TestClient(TestServer(app, host="127.0.0.1")) as client:
        assert await (await client.get("/api/recordings/live")).text() == "live"
        r = await client.get(f"/api/recordings/{uuid.uuid4()}")
        assert r.status == 401 and r.headers["WWW-Authenticate"] == 'Basic realm="linja"'


async def test_user_directory_down_is_503_not_401(w: World) -> None:
    class DownUsers:
        async def authenticate(self, login: str, password: str) -> UserInfo | None:
            raise StorageUnavailable("database unreachable")

    app = new_app()
    add_routes(app, w.service, Guard(DownUsers(), NoTenants(), audit=FakeAudit()))
    async with TestClient(TestServer(app, host="127.0.0.1")) as client:
        r = await client.get(
            f"/api/recordings/{uuid.uuid4()}/audio", headers={"Authorization": "Basic dTpw"}
        )
        assert r.status == 503 and "unavailable" in (await r.json())["detail"]
