"""Checking a login and password without letting the check be used against the service.

:class:`PasswordCheck` looks the login up, then runs argon2 on the hasher it is given (the
controller gives one on its own bounded pool, :class:`storage.passwords.BoundedPool`). An
unknown or disabled login costs the same argon2 work, against a dummy hash, so the answer's
timing does not tell which logins exist. Verified credentials are remembered for a short
time in a :class:`VerifiedCache`, keyed by an HMAC of login and password under a key made
at start (never the password itself); a hit still reads the user's row, and counts only
while the row is active and its password hash is the one that was verified, so disabling a
user or changing their password ends the cached entry at once, also from another process.
The hash itself never leaves this module: the cache holds a digest of it.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import secrets
import uuid
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from storage.clock import Clock
from storage.domain import UserInfo
from storage.models import User
from storage.passwords import Hasher
from storage.repositories._uow import transaction
from storage.repositories.users import user_info

MAX_LOGIN = 100  # users.login is VARCHAR(100): a longer one names nobody


@dataclass(frozen=True, slots=True)
class _Entry:
    user_id: uuid.UUID
    stamp: bytes  # SHA-256 of the password hash that was verified
    until: datetime


class VerifiedCache:
    """Credentials verified in the last ``ttl``, at most ``size`` of them (oldest go first)."""

    def __init__(self, clock: Clock, *, ttl: timedelta, size: int = 1024) -> None:
        self._clock, self._ttl, self._size = clock, ttl, size
        self._key = secrets.token_bytes(32)
        self._entries: OrderedDict[bytes, _Entry] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def key(self, login: str, password: str) -> bytes:
        raw = (
            login.encode("utf-8", "surrogatepass")
            + b"\0"
            + password.encode("utf-8", "surrogatepass")
        )
        return hmac.new(self._key, raw, hashlib.sha256).digest()

    def hit(self, key: bytes, user_id: uuid.UUID, stamp: bytes) -> bool:
        entry = self._entries.get(key)
        if entry is None:
            return False
        if entry.until <= self._clock() or entry.user_id != user_id or entry.stamp != stamp:
            del self._entries[key]
            return False
        return True

    def put(self, key: bytes, user_id: uuid.UUID, stamp: bytes) -> None:
        if self._ttl <= timedelta(0):
            return
        self._entries[key] = _Entry(user_id, stamp, self._clock() + self._ttl)
        self._entries.move_to_end(key)
        while len(self._entries) > self._size:
            self._entries.popitem(last=False)

    def forget_user(self, user_id: uuid.UUID) -> None:
        for key in [k for k, e in self._entries.items() if e.user_id == user_id]:
            del self._entries[key]


def stamp_of(password_hash: str) -> bytes:
    return hashlib.sha256(password_hash.encode()).digest()


Lookup = Callable[[str], Awaitable["tuple[UserInfo, str] | None"]]


def user_lookup(sessions: async_sessionmaker[AsyncSession]) -> Lookup:
    """(user, password hash) of a login, from the users table."""

    async def lookup(login: str) -> tuple[UserInfo, str] | None:
        async with transaction(sessions) as s:
            row = await s.scalar(select(User).where(User.login == login))
            return None if row is None else (user_info(row), row.password_hash)

    return lookup


Rehash = Callable[[uuid.UUID, str, str], Awaitable[None]]


def user_rehash(sessions: async_sessionmaker[AsyncSession]) -> Rehash:
    """Replace a user's password hash made with older parameters (unless it changed since)."""

    async def rehash(user_id: uuid.UUID, old: str, new: str) -> None:
        async with transaction(sessions) as s:
            await s.execute(
                update(User)
                .where(User.id == user_id, User.password_hash == old)
                .values(password_hash=new)
            )

    return rehash


async def _no_rehash(user_id: uuid.UUID, old: str, new: str) -> None:
    return None


class PasswordCheck:
    def __init__(
        self,
        lookup: Lookup,
        hasher: Hasher,
        cache: VerifiedCache,
        rehash: Rehash = _no_rehash,
    ) -> None:
        self._lookup, self._hasher, self.cache, self._rehash = lookup, hasher, cache, rehash
        self._dummy: str | None = None
        self._dummy_lock = asyncio.Lock()

    @classmethod
    def on(
        cls, sessions: async_sessionmaker[AsyncSession], hasher: Hasher, cache: VerifiedCache
    ) -> PasswordCheck:
        return cls(user_lookup(sessions), hasher, cache, user_rehash(sessions))

    async def prepare(self) -> None:
        """Make the dummy hash (once) before the first unknown login has to wait for it."""
        async with self._dummy_lock:
            if self._dummy is None:
                self._dummy = await self._hasher.hash(secrets.token_urlsafe(24))

    async def check(self, login: str, password: str) -> UserInfo | None:
        """The active user with this login and password, else None (same work either way)."""
        found = await self._lookup(login) if len(login) <= MAX_LOGIN else None
        if found is None or not found[0].active or not found[1]:
            await self.prepare()
            assert self._dummy is not None
            await self._hasher.verify(self._dummy, password)
            return None
        user, stored = found
        key, stamp = self.cache.key(login, password), stamp_of(stored)
        if self.cache.hit(key, user.id, stamp):
            return user
        if not await self._hasher.verify(stored, password):
            return None
        if self._hasher.needs_rehash(stored):
            fresh = await self._hasher.hash(password)
            await self._rehash(user.id, stored, fresh)
            stamp = stamp_of(fresh)
        self.cache.put(key, user.id, stamp)
        return user
