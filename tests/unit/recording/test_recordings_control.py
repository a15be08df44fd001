"""The pause/resume API on a real aiohttp server, with live recordings on a recording ARI
stand-in: who may act, what each refusal looks like, and that state follows Asterisk."""

from __future__ import annotations

import base64
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from ivr.ari.errors import AriError, ChannelGone, http_error
from ivr.ari.recordings import LiveRecording
from ivr.http.edge import new_app
from ivr.http.guard import Guard
from ivr.http.recordings_control import add_routes
from ivr.telephony.recorder import AriLiveControl
from recording.bridge import BridgeRecording, LiveRecordings
from storage.domain import UserInfo
from storage.errors import StorageUnavailable
from storage.events import Role
from tests.unit.fake_audit import FakeAudit

T0 = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
TENANT = uuid.UUID(int=1)
OTHER = uuid.UUID(int=2)
CASE = uuid.UUID(int=7)


class Rest:
    def __init__(self) -> None:
        self.requests: list[tuple[str, str]] = []
        self.fail: AriError | None = None

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str | int | bool] | None = None,
        json: Any = None,
    ) -> Any:
        self.requests.append((method, path))
        if self.fail is not None:
            raise self.fail
        return None


def user(login: str, role: Role, tenant: uuid.UUID | None) -> UserInfo:
    return UserInfo(
        id=uuid.uuid4(),
        tenant_id=tenant,
        name=login,
        login=login,
        email=None,
        role=role,
        phone_number=None,
        phone_login=None,
        has_phone_pin=False,
        created_at=T0,
        disabled_at=None,
    )


USERS = {
    "admin": user("admin", Role.ADMIN, TENANT),
    "team": user("team", Role.TEAM, TENANT),
    "other": user("other", Role.TEAM, OTHER),
    "root": user("root", Role.OPERATOR, None),
    "ext": user("ext", Role.EXTERNAL, TENANT),
}


class Users:
    async def authenticate(self, login: str, password: str) -> UserInfo | None:
        return USERS.get(login) if password == "pw" else None


class NoTenants:
    async def tenant_id(self, slug: str) -> uuid.UUID | None:
        return None


def auth(login: str, password: str = "pw") -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{login}:{password}".encode()).decode()}


class Clock:
    now = T0

    def __call__(self) -> datetime:
        return self.now


def setup() -> tuple[web.Application, LiveRecordings, Rest, Clock]:
    clock = Clock()
    rest = Rest()
    live = LiveRecordings(clock)
    live.add(
        BridgeRecording(
            control=AriLiveControl(LiveRecording(rest, "rec-1"), CASE),
            bridge_id="b-c1",
            name="rec-1",
            case_id=CASE,
            tenant_id=TENANT,
            recording_id=uuid.UUID(int=9),
            started_at=T0,
            notice_played_at=T0 - timedelta(seconds=4),
        )
    )
    app = new_app()
    add_routes(app, live, Guard(Users(), NoTenants(), audit=FakeAudit()))
    return app, live, rest, clock


async def test_pause_and_resume_follow_asterisk_and_keep_the_pause() -> None:
    app, _live, rest, clock = setup()
    async with TestClient(TestServer(app, host="127.0.0.1")) as client:
        clock.now = T0 + timedelta(seconds=1.5)
        r = await client.post(f"/api/calls/{CASE}/recording/pause", headers=auth("team"))
        assert r.status == 200 and (await r.json())["paused"] is True
        r = await client.post(f"/api/calls/{CASE}/recording/pause", headers=auth("team"))
        assert r.status == 409
        clock.now = T0 + timedelta(seconds=4)
        r = await client.post(f"/api/calls/{CASE}/recording/resume", headers=auth("admin"))
        body = await r.json()
        assert r.status == 200 and body["paused"] is False
        assert body["pauses"] == [{"start": 1.5, "end": 4.0}]
        r = await client.post(f"/api/calls/{CASE}/recording/resume", headers=auth("admin"))
        assert r.status == 409
        r = await client.get(f"/api/calls/{CASE}/recording", headers=auth("root"))
        assert r.status == 200 and (await r.json())["case_id"] == str(CASE)
    assert rest.requests == [
        ("POST", "/recordings/live/rec-1/pause"),
        ("DELETE", "/recordings/live/rec-1/pause"),
    ]


async def test_who_may_and_what_refusals_look_like() -> None:
    app, _live, rest, _clock = setup()
    pause = f"/api/calls/{CASE}/recording/pause"
    async with TestClient(TestServer(app, host="127.0.0.1")) as client:
        r = await client.post(pause)
        assert r.status == 401 and r.headers["WWW-Authenticate"] == 'Basic realm="linja"'
        assert (await client.post(pause, headers=auth("team", "wrong"))).status == 401
        assert (await client.post(pause, headers=auth("ext"))).status == 403
        assert (await client.post(pause, headers=auth("other"))).status == 403  # not theirs
        bad = "/api/calls/not-a-uuid/recording/pause"
        assert (await client.post(bad, headers=auth("team"))).status == 400
        none = f"/api/calls/{uuid.uuid4()}/recording/pause"
        assert (await client.post(none, headers=auth("team"))).status == 404
        odd = f"/api/calls/{CASE}/recording/rewind"
        assert (await client.post(odd, headers=auth("team"))).status == 404
        r = await client.get("/api/recordings/live", headers=auth("other"))
        assert await r.json() == []
        r = await client.get("/api/recordings/live", headers=auth("team"))
        assert [x["case_id"] for x in await r.json()] == [str(CASE)]
    assert rest.requests == []  # nothing refused reached Asterisk


async def test_asterisk_refusing_is_502_and_changes_nothing() -> None:
    app, live, rest, _clock = setup()
    rest.fail = http_error(500, "POST", "/recordings/live/rec-1/pause", "boom")
    async with TestClient(TestServer(app, host="127.0.0.1")) as client:
        r = await client.post(f"/api/calls/{CASE}/recording/pause", headers=auth("team"))
        assert r.status == 502
        assert not live.get(CASE).paused
        rest.fail = ChannelGone(404, "POST", "/recordings/live/rec-1/pause")
        r = await client.post(f"/api/calls/{CASE}/recording/pause", headers=auth("team"))
        assert r.status == 404  # the recording ended in Asterisk meanwhile


async def test_user_directory_down_is_503() -> None:
    class Down:
        async def authenticate(self, login: str, password: str) -> UserInfo | None:
            raise StorageUnavailable("down")

    _app, live, _rest, _clock = setup()
    app = new_app()
    add_routes(app, live, Guard(Down(), NoTenants(), audit=FakeAudit()))
    async with TestClient(TestServer(app, host="127.0.0.1")) as client:
        r = await client.post(f"/api/calls/{CASE}/recording/pause", headers=auth("team"))
        assert r.status == 503
    assert not live.get(CASE).paused
