"""Issue 17, item 2, "erasure and retention leave copies": every copy of personal data has an
owner that deletes it.

The features as ``linja serve`` wires them (recordings, subjects, sweep) on their own state
and audio dirs, the real Postgres (a fresh migrated database per test), real wav files and a
real ffmpeg conversion:

(a) a recording converted to mp3 through the listening API is gone once the person is erased
    through the subjects API;
(b) a converted copy older than its TTL is removed by the recordings feature's periodic prune,
    with no further conversion; the periodic sweep removes one too;
(c) an API export bundle older than ``export_ttl`` is removed by the periodic sweep while a
    fresh one stays; the answer says when a bundle expires; an erasure removes the person's
    bundles at once (and only theirs).
"""

from __future__ import annotations

import asyncio
import os
import shutil
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import update

from ivr.app import http_app, load_feature
from ivr.config import Settings
from ivr.core import Core, Feature, build_core
from storage.domain import Actor
from storage.events import Role
from storage.models import Recording
from storage.passwords import Hasher
from storage.repositories.tenants import TenantRepository
from storage.repositories.users import UserRepository
from tests.integration.test_listening import seed_audio
from tests.integration.test_retention import cli_env, linja
from tests.support import basic_auth

pytestmark = pytest.mark.integration

SYSTEM = Actor.system("tests")
PASSWORD = "kopiot-salasana"
CALLER = "+358401112223"  # the caller of the case seed_audio writes
OTHER = "+358409998887"  # someone else (nothing stored about them)


@dataclass
class World:
    core: Core
    client: TestClient[web.Request, web.Application]
    features: dict[str, Feature]
    slug: str
    admin: str
    team: str
    recording_id: uuid.UUID
    state: Path

    @property
    def converted(self) -> Path:
        return self.state / "listen-cache" / "converted"

    @property
    def exports(self) -> Path:
        return self.state / "exports"

    def copies_of(self, audio_id: uuid.UUID) -> list[Path]:
        return sorted(self.converted.glob(f"{audio_id}-*"))

    def auth(self, login: str) -> dict[str, str]:
        return basic_auth(login, PASSWORD)

    async def mp3(self) -> Path:
        """Listen to the recording as mp3; the converted copy it left in the cache."""
        r = await self.client.get(
            f"/api/recordings/{self.recording_id}/audio",
            params={"format": "mp3"},
            headers=self.auth(self.team),
        )
        assert r.status == 200, await r.text()
        await r.read()
        (copy,) = self.copies_of(self.recording_id)
        return copy

    async def post(self, action: str, body: dict[str, str]) -> dict[str, object]:
        r = await self.client.post(
            f"/api/subjects/{action}",
            json={"tenant": self.slug, **body},
            headers=self.auth(self.admin),
        )
        assert r.status == 200, await r.text()
        answer: dict[str, object] = await r.json()
        return answer


def age(path: Path, seconds: float) -> None:
    """Make ``path`` (and, for a directory, everything in it) ``seconds`` old."""
    then = time.time() - seconds
    for p in [*path.rglob("*"), path] if path.is_dir() else [path]:
        os.utime(p, (then, then))


def there(*paths: Path) -> list[bool]:
    return [p.exists() for p in paths]


async def wait_until_gone(path: Path) -> None:
    """Back as soon as ``path`` is gone, or after 10 s."""
    for _ in range(200):
        if there(path) == [False]:
            return
        await asyncio.sleep(0.05)


@pytest.fixture
def cli_state(scratch_db: Settings) -> Path:
    """The state dir the ``linja`` CLI uses (the checkout's ``.run``, where its secrets are)."""
    return scratch_db.state_dir


@pytest.fixture
async def world(scratch_db: Settings, tmp_path: Path) -> AsyncIterator[World]:
    settings = scratch_db.model_copy(
        update={
            "state_dir": tmp_path / "state",
            "audio_dir": tmp_path / "audio",
            "sweep_interval": 0.3,
        }
    )
    async with AsyncExitStack() as stack:
        core = await build_core(settings, stack)
        home = await TenantRepository(core.sessions).create(
            f"k-{uuid.uuid4().hex[:8]}", "Kopio Oy", SYSTEM
        )
        users = UserRepository(core.sessions, Hasher.fast_for_tests())
        logins = {}
        for role in (Role.ADMIN, Role.TEAM):
            login = f"{role.value}-{uuid.uuid4().hex[:6]}"
            await users.create(
                tenant_id=home.id, name=role.value, login=login, password=PASSWORD, role=role,
                actor=SYSTEM,
            )  # fmt: skip
            logins[role] = login
        _case, rec_id, _loc, _vm = await seed_audio(core.engine, core.audio, tmp_path, home.id)
        features = {n: await load_feature(n)(core) for n in ("recordings", "subjects", "sweep")}
        client = TestClient(TestServer(http_app(list(features.values())), host="127.0.0.1"))
        await client.start_server()
        stack.push_async_callback(client.close)
        yield World(
            core, client, features, home.slug, logins[Role.ADMIN], logins[Role.TEAM], rec_id,
            settings.state_dir,
        )  # fmt: skip


async def run_task(feature: Feature, name: str, until_gone: Path) -> None:
    """Run the feature's background task ``name`` until ``until_gone`` is gone (or 10 s)."""
    tasks = dict(feature.tasks)
    assert name in tasks, f"{feature.name} has no task {name!r} (only {sorted(tasks)})"
    task = asyncio.create_task(tasks[name]())
    try:
        await wait_until_gone(until_gone)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def test_erasure_deletes_the_converted_copies(world: World) -> None:
    """(a) Listen as mp3, erase the person: the mp3 in the listening cache is gone."""
    copy = await world.mp3()
    assert copy.stat().st_size > 1000
    erased = await world.post("erase", {"phone": CALLER, "ref": "I17-2a"})
    assert erased["files_deleted"] == 2  # the recording and the voice message
    assert not copy.exists(), "the erased recording's mp3 copy is still in the cache"
    assert world.copies_of(world.recording_id) == []


async def test_retention_sweep_deletes_the_converted_copies(world: World) -> None:
    """(a, sweeper) A recording the sweep deletes for retention takes its mp3 copy along."""
    copy = await world.mp3()
    async with world.core.sessions.begin() as s:
        await s.execute(
            update(Recording)
            .where(Recording.id == world.recording_id)
            .values(completed_at=datetime.now(UTC) - timedelta(days=5 * 365))
        )
    await run_task(world.features["sweep"], "retention-sweep", copy)
    assert there(copy) == [False], "the swept recording's mp3 copy is still in the cache"


async def test_expired_converted_copy_is_pruned_without_a_new_conversion(world: World) -> None:
    """(b) A copy older than the cache TTL (10 minutes) is removed by the recordings feature's
    periodic prune, and by the periodic sweep, though nobody converts anything else."""
    copy = await world.mp3()
    fresh = world.converted / f"{uuid.uuid4()}-{'ab' * 32}.ogg"  # a copy made a moment ago
    fresh.write_bytes(b"OggS fresh")
    age(copy, 11 * 60)
    await run_task(world.features["recordings"], "listen-cache-prune", copy)
    assert not copy.exists(), "an expired converted copy outlived the TTL"
    assert fresh.exists(), "a fresh converted copy was pruned"

    copy = await world.mp3()  # the same audio again: a new conversion
    age(copy, 11 * 60)
    await run_task(world.features["sweep"], "retention-sweep", copy)
    assert not copy.exists(), "the sweep left an expired converted copy"
    assert fresh.exists()


async def test_export_bundles_expire_and_go_with_the_erasure(world: World) -> None:
    """(c) API export bundles: the answer gives the expiry (24 h by default); a bundle past it
    is removed by the periodic sweep, a fresh one stays; erasing the person removes all of
    their bundles at once and leaves other people's."""
    before = datetime.now(UTC)
    first = await world.post("export", {"phone": CALLER})
    old = Path(str(first["bundle"]))
    assert old.parent == world.exports and (old / "subject.json").exists()
    assert len(list((old / "audio").iterdir())) == 2
    fresh = Path(str((await world.post("export", {"email": "ei.ketaan@example.com"}))["bundle"]))
    age(old, 25 * 3600)

    await run_task(world.features["sweep"], "retention-sweep", old)
    assert there(old, fresh) == [False, True], "expired bundle kept, or fresh one removed"

    mine = [Path(str((await world.post("export", {"phone": CALLER}))["bundle"])) for _ in "ab"]
    theirs = Path(str((await world.post("export", {"phone": OTHER}))["bundle"]))
    assert there(*mine) == [True, True]
    erased = await world.post("erase", {"phone": CALLER})
    assert there(*mine) == [False, False], "the erased person's export bundles remain"
    assert there(theirs, fresh) == [True, True], "the erasure removed someone else's bundle"
    assert erased["bundles_deleted"] == 2
    expires = datetime.fromisoformat(str(first["expires_at"]))
    assert timedelta(hours=23, minutes=59) < expires - before < timedelta(hours=24, minutes=1)


async def test_the_cli_erase_and_sweep_delete_the_copies_too(
    world: World, scratch_db: Settings, cli_state: Path, tmp_path: Path
) -> None:
    """(a, c through the CLI) ``linja subject erase`` removes the person's converted copies
    and API bundles in the service's state dir; ``linja sweep`` removes expired bundles."""
    copy = await world.mp3()
    bundle = Path(str((await world.post("export", {"phone": CALLER}))["bundle"]))
    cli_copy = cli_state / "listen-cache" / "converted" / copy.name
    cli_bundle = cli_state / "exports" / f"{bundle.name}-cli"
    expired = cli_state / "exports" / f"{bundle.name}-old"
    for b in (cli_bundle, expired):
        shutil.copytree(bundle, b)
    age(expired, 25 * 3600)
    cli_copy.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(copy, cli_copy)
    env = cli_env(scratch_db, tmp_path / "audio")
    try:
        res = linja(env, "sweep")
        assert res.returncode == 0, res.stderr
        assert there(expired, cli_bundle, cli_copy) == [False, True, True], res.stdout
        res = linja(env, "subject", "erase", "--tenant", world.slug, "--phone", CALLER,
                    "--by", world.admin)  # fmt: skip
        assert res.returncode == 0, res.stderr
        assert there(cli_copy, cli_bundle) == [False, False], "the CLI erasure left copies"
    finally:
        for b in (cli_bundle, expired):
            shutil.rmtree(b, ignore_errors=True)
        cli_copy.unlink(missing_ok=True)
