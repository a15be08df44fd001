"""Argon2id hashing of passwords and phone-login PINs, off the event loop (it is CPU work).

By default the work runs in asyncio's default thread pool (the CLI). The controller gives
the hasher a :class:`BoundedPool` instead: a few threads of its own and a bounded queue, so
a flood of password checks can neither occupy the threads that finalise recordings nor queue
without limit. A full pool refuses at once with :class:`PoolFull`, and its threads
run at a lower CPU priority (``nice``) than the rest of the controller.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import threading
from collections.abc import Awaitable, Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TypeVar

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

T = TypeVar("T")
Runner = Callable[[Callable[[], T]], Awaitable[T]]


class PoolFull(RuntimeError):
    """Every worker of a :class:`BoundedPool` is busy and its queue is full: retry later."""


class BoundedPool:
    """A ThreadPoolExecutor of ``workers`` threads that holds at most ``queue`` more jobs.

    The count of jobs in flight is kept on the event loop's thread and released when the
    thread's job has finished (not when its awaiter gives up), so a cancelled request never
    lets more work into the threads than the bound."""

    def __init__(
        self, workers: int = 2, queue: int = 8, *, nice: int = 0, name: str = "passwords"
    ) -> None:
        if workers < 1 or queue < 0:
            raise ValueError("a pool needs at least one worker and a queue of 0 or more")
        self.workers, self.limit = workers, workers + queue
        self._pool = ThreadPoolExecutor(
            max_workers=workers,
            thread_name_prefix=name,
            initializer=_lower_priority,
            initargs=(nice,),
        )
        self._in_flight = 0
        self.refused = 0

    @property
    def in_flight(self) -> int:
        return self._in_flight

    async def run(self, job: Callable[[], T]) -> T:
        if self._in_flight >= self.limit:
            self.refused += 1
            raise PoolFull(f"{self._in_flight} password checks in flight")
        loop = asyncio.get_running_loop()
        self._in_flight += 1
        try:
            done: Future[T] = self._pool.submit(job)
        except BaseException:
            self._in_flight -= 1
            raise
        done.add_done_callback(lambda _: loop.call_soon_threadsafe(self._release))
        return await asyncio.wrap_future(done)

    def _release(self) -> None:
        self._in_flight -= 1

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)


def _lower_priority(nice: int) -> None:
    """Run this worker thread (and the threads argon2 starts from it) at a higher nice value,
    so that when the CPU is short the event loop and the recording threads go first. On Linux
    a thread's id names that thread alone; elsewhere this is a no-op."""
    if nice <= 0:
        return
    with contextlib.suppress(AttributeError, OSError):
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), nice)


async def _to_thread(job: Callable[[], T]) -> T:
    return await asyncio.to_thread(job)


class Hasher:
    def __init__(self, hasher: PasswordHasher | None = None, *, run: Runner[object] | None = None):
        self._h = hasher or PasswordHasher()
        self._run: Runner[object] = run or _to_thread

    @classmethod
    def fast_for_tests(cls) -> Hasher:
        """Cheap parameters: only for tests, never for stored secrets."""
        return cls(PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))

    def on(self, pool: BoundedPool) -> Hasher:
        """The same parameters, its work on ``pool``."""
        return self.running(pool.run)

    def running(self, run: Runner[object]) -> Hasher:
        """The same parameters, its work run by ``run``."""
        return Hasher(self._h, run=run)

    def describe(self) -> str:
        h = self._h
        return f"argon2id t={h.time_cost} m={h.memory_cost // 1024} MiB p={h.parallelism}"

    async def hash(self, secret: str) -> str:
        if not secret:
            raise ValueError("empty password or PIN")
        hashed = await self._run(lambda: self._h.hash(secret))
        assert isinstance(hashed, str)
        return hashed

    async def verify(self, stored: str, secret: str) -> bool:
        def check() -> bool:
            try:
                return self._h.verify(stored, secret)
            except (VerificationError, InvalidHashError):
                return False

        return bool(await self._run(check))

    def needs_rehash(self, stored: str) -> bool:
        return self._h.check_needs_rehash(stored)
