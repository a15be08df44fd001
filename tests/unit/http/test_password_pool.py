"""The bounded argon2 pool, the verified-credential cache and the dummy-hash work for
unknown logins (fakes and a fake clock; real argon2 at test parameters)."""

from __future__ import annotations

import asyncio
import threading
import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from argon2 import PasswordHasher

from storage.credentials import PasswordCheck, VerifiedCache
from storage.domain import UserInfo
from storage.events import Role
from storage.passwords import BoundedPool, Hasher, PoolFull
from tests.unit.fake_core import fake_core

T0 = datetime(2026, 12, 1, 12, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


def _user(login: str) -> UserInfo:
    return UserInfo(
        id=uuid.uuid5(uuid.NAMESPACE_DNS, login), tenant_id=uuid.UUID(int=1), name=login,
        login=login, email=None, role=Role.TEAM, phone_number=None, phone_login=None,
        has_phone_pin=False, created_at=T0, disabled_at=None,
    )  # fmt: skip


async def test_a_full_password_pool_refuses_at_once_instead_of_queueing() -> None:
    pool = BoundedPool(workers=1, queue=1)
    gate = threading.Event()
    try:
        running = asyncio.ensure_future(pool.run(gate.wait))
        queued = asyncio.ensure_future(pool.run(gate.wait))
        await asyncio.sleep(0.05)
        assert pool.in_flight == 2
        with pytest.raises(PoolFull):
            await pool.run(lambda: True)
        assert pool.refused == 1
        running.cancel()  # its caller gives up, but the thread still runs the job
        await asyncio.sleep(0.05)
        with pytest.raises(PoolFull):
            await pool.run(lambda: True)
        queued.cancel()  # a job that has not started is dropped with its caller
        await asyncio.sleep(0.05)
        assert pool.in_flight == 1
        gate.set()
        for _ in range(100):
            if pool.in_flight == 0:
                break
            await asyncio.sleep(0.01)
        assert pool.in_flight == 0
        assert await pool.run(lambda: 42) == 42
    finally:
        gate.set()
        pool.close()


class Users:
    def __init__(self, hasher: Hasher) -> None:
        self.hasher = hasher
        self.rows: dict[str, tuple[UserInfo, str]] = {}
        self.lookups = 0

    async def add(self, login: str, password: str) -> UserInfo:
        user = _user(login)
        self.rows[login] = (user, await self.hasher.hash(password))
        return user

    async def lookup(self, login: str) -> tuple[UserInfo, str] | None:
        self.lookups += 1
        return self.rows.get(login)


class Counting:
    """A runner that counts the argon2 jobs it runs."""

    def __init__(self) -> None:
        self.jobs = 0

    async def __call__(self, job: object) -> object:
        assert callable(job)
        self.jobs += 1
        return job()


@pytest.fixture
def world() -> tuple[PasswordCheck, Users, Counting, Clock]:
    runner, clock = Counting(), Clock()
    hasher = Hasher.fast_for_tests()
    users = Users(hasher)
    counted = hasher.running(runner)  # same parameters, counted work
    check = PasswordCheck(users.lookup, counted, VerifiedCache(clock, ttl=timedelta(minutes=3)))
    return check, users, runner, clock


async def test_unknown_logins_cost_the_same_argon2_work(
    world: tuple[PasswordCheck, Users, Counting, Clock],
) -> None:
    check, users, runner, _ = world
    await users.add("tiina", "oikea")
    await check.prepare()
    base = runner.jobs
    assert await check.check("tiina", "vaarin") is None
    known = runner.jobs - base
    assert await check.check("nobody", "vaarin") is None
    unknown = runner.jobs - base - known
    assert known == unknown == 1
    assert await check.check("x" * 101, "vaarin") is None  # too long to be a login: same work
    assert runner.jobs - base == 3
    users.rows["tiina"] = (replace(users.rows["tiina"][0], disabled_at=T0), users.rows["tiina"][1])
    assert await check.check("tiina", "oikea") is None  # disabled: same work, no user
    assert runner.jobs - base == 4


async def test_verified_credentials_are_cached_briefly_and_never_by_password(
    world: tuple[PasswordCheck, Users, Counting, Clock],
) -> None:
    check, users, runner, clock = world
    user = await users.add("tiina", "oikea-salasana")
    assert await check.check("tiina", "oikea-salasana") == user
    jobs = runner.jobs
    assert await check.check("tiina", "oikea-salasana") == user
    assert runner.jobs == jobs  # a hit: no argon2
    assert await check.check("tiina", "oikea-salasanA") is None
    assert runner.jobs == jobs + 1  # another password is no hit
    assert users.lookups == 3  # every check still reads the user's row
    entries = repr(check.cache._entries)
    assert "oikea" not in entries and "tiina" not in entries
    clock.now += timedelta(minutes=3)
    assert await check.check("tiina", "oikea-salasana") == user
    assert runner.jobs == jobs + 2  # expired: verified again


async def test_the_cache_drops_a_credential_when_the_password_changes_or_user_disabled(
    world: tuple[PasswordCheck, Users, Counting, Clock],
) -> None:
    check, users, _, _ = world
    user = await users.add("tiina", "vanha")
    assert await check.check("tiina", "vanha") == user
    users.rows["tiina"] = (user, await users.hasher.hash("uusi"))  # password changed elsewhere
    assert await check.check("tiina", "vanha") is None
    assert len(check.cache) == 0
    assert await check.check("tiina", "uusi") == user
    users.rows["tiina"] = (replace(user, disabled_at=T0), users.rows["tiina"][1])
    assert await check.check("tiina", "uusi") is None
    check.cache.put(check.cache.key("a", "b"), user.id, b"x")
    check.cache.forget_user(user.id)
    assert len(check.cache) == 0


def test_the_cache_key_is_keyed_per_process() -> None:
    a, b = VerifiedCache(Clock(), ttl=timedelta(1)), VerifiedCache(Clock(), ttl=timedelta(1))
    assert a.key("tiina", "pw") == a.key("tiina", "pw") != b.key("tiina", "pw")
    assert a.key("ti", "ina:pw") != a.key("tiina", ":pw")


async def test_a_hash_with_old_parameters_is_replaced_after_a_right_password() -> None:
    old = Hasher.fast_for_tests()
    user = _user("tiina")
    stored = await old.hash("oikea")
    replaced: list[tuple[uuid.UUID, str, str]] = []

    async def lookup(login: str) -> tuple[UserInfo, str] | None:
        return (user, stored) if login == "tiina" else None

    async def rehash(user_id: uuid.UUID, was: str, new: str) -> None:
        replaced.append((user_id, was, new))

    stronger = Hasher(PasswordHasher(time_cost=2, memory_cost=2048, parallelism=1))
    check = PasswordCheck(lookup, stronger, VerifiedCache(Clock(), ttl=timedelta(0)), rehash)
    assert await check.check("tiina", "vaarin") is None and replaced == []
    assert await check.check("tiina", "oikea") == user
    assert [(u, w) for u, w, _ in replaced] == [(user.id, stored)]
    assert await stronger.verify(replaced[0][2], "oikea")


async def test_the_controllers_guard_checks_passwords_on_the_bounded_pool(tmp_path: Path) -> None:
    core = fake_core(tmp_path, password_workers=1, password_queue=2)
    identity = core.guard.identity
    assert identity is not None and identity.pool is not None
    gate = threading.Event()
    try:
        assert (identity.pool.workers, identity.pool.limit) == (1, 3)
        blockers = [asyncio.ensure_future(identity.pool.run(gate.wait)) for _ in range(3)]
        await asyncio.sleep(0.05)
        with pytest.raises(PoolFull):  # the guard's argon2 work goes to this pool
            await identity.passwords.prepare()
        gate.set()
        await asyncio.gather(*blockers)
        await identity.passwords.prepare()  # and runs there once it has room
    finally:
        gate.set()
        await identity.close()
        await core.engine.dispose()
