"""Cluster-wide "one at a time" locks: Postgres session-level advisory locks, tried once.

:class:`TryLock` holds ``pg_try_advisory_lock(key)`` on a connection of its own for as long
as the ``async with`` lasts, and yields whether it got it: a second holder anywhere (another
controller, node or CLI run on the same database) gets False at once and does nothing. The
lock goes away with the session, so a holder that dies (``kill -9``, a lost node) frees it
as soon as Postgres notices the connection is gone.

Keys are signed 64-bit integers; :func:`key` makes one from an 8-byte name.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from storage.repositories._uow import translate

__all__ = ["TryLock", "key"]


def key(name: bytes, offset: int = 0) -> int:
    """The advisory-lock key of an 8-byte ``name`` (plus ``offset``, for numbered slots)."""
    if len(name) != 8:
        raise ValueError("an advisory lock name is 8 bytes")
    return int.from_bytes(name, "big") - (1 << 63) + offset


class TryLock:
    def __init__(self, engine: AsyncEngine, lock_key: int) -> None:
        self._engine = engine
        self._key = lock_key

    @asynccontextmanager
    async def hold(self) -> AsyncIterator[bool]:
        """Yields True with the lock held (released on exit), False if another holds it.
        Raises :class:`storage.errors.StorageError` when the database cannot be used."""
        try:
            conn = await self._engine.connect()
        except Exception as exc:
            raise translate(exc) from None
        try:
            auto = await conn.execution_options(isolation_level="AUTOCOMMIT")
            try:
                got = bool(
                    (
                        await auto.execute(
                            text("SELECT pg_try_advisory_lock(:k)"), {"k": self._key}
                        )
                    ).scalar()
                )
            except Exception as exc:
                raise translate(exc) from None
            try:
                yield got
            finally:
                if got:
                    try:
                        await auto.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": self._key})
                    except Exception:  # dropping the session frees it too
                        await conn.invalidate()
        finally:
            await conn.close()
