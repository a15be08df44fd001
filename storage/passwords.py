"""Argon2id hashing of passwords and phone-login PINs, off the event loop (it is CPU work)."""

from __future__ import annotations

import asyncio

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError


class Hasher:
    def __init__(self, hasher: PasswordHasher | None = None) -> None:
        self._h = hasher or PasswordHasher()

    @classmethod
    def fast_for_tests(cls) -> Hasher:
        """Cheap parameters: only for tests, never for stored secrets."""
        return cls(PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))

    async def hash(self, secret: str) -> str:
        if not secret:
            raise ValueError("empty password or PIN")
        return await asyncio.to_thread(self._h.hash, secret)

    async def verify(self, stored: str, secret: str) -> bool:
        def check() -> bool:
            try:
                return self._h.verify(stored, secret)
            except (VerificationError, InvalidHashError):
                return False

        return await asyncio.to_thread(check)

    def needs_rehash(self, stored: str) -> bool:
        return self._h.check_needs_rehash(stored)
