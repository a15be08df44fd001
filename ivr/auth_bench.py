"""``make bench-auth``: password checking against recording finalisation, on this machine.

What it measures (all in one run, so the ratios compare like with like):

- **finalisation latency**: wav files of ``--seconds`` of 8 kHz audio are put into a scratch
  audio store by the real :class:`recording.finalise.Finaliser` (header repair check,
  duration, copy with SHA-256, fsync, rename), one every ``--gap`` seconds, as calls end.
  Asterisk is not needed: the file is written where Asterisk would leave it. Measured
  alone (the baseline), then during a password-guessing flood of ``--rate`` requests/s:
  through the controller's :class:`~ivr.http.sessions.Identity` (the bounded argon2 pool,
  every guess from another address and for another login, so no backoff helps: the worst
  case), and through the old path (argon2 in asyncio's default thread pool, unbounded, the
  pool the finaliser also uses);
- **logins per second**: right passwords with the cache off, as many as the bounded pool
  takes, alone and while recordings are being finalised.

The user lookup is in memory (no Postgres): the figure is the argon2 and thread-pool cost.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
import uuid
import wave
from collections import Counter
from collections.abc import Awaitable, Callable, Coroutine
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from ivr.http.backoff import Backoff
from ivr.http.problems import Problem
from ivr.http.sessions import Identity, SessionPolicy
from recording.finalise import Finaliser, recording_name
from recording.store import AudioKind, AudioStore
from storage.credentials import PasswordCheck, VerifiedCache
from storage.domain import UserInfo
from storage.events import Role
from storage.passwords import BoundedPool, Hasher

TENANT = uuid.UUID(int=1)
PASSWORD = "oikea-salasana-bench"


def _user() -> UserInfo:
    return UserInfo(
        id=uuid.uuid4(), tenant_id=TENANT, name="Bench", login="bench", email=None,
        role=Role.TEAM, phone_number=None, phone_login=None, has_phone_pin=False,
        created_at=datetime.now(UTC), disabled_at=None,
    )  # fmt: skip


class _NoAudit:
    def __init__(self) -> None:
        self.count = 0

    async def append(self, *_: Any, **__: Any) -> None:
        self.count += 1


def _write_wav(path: Path, seconds: float) -> None:
    frames = int(8000 * seconds)
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(bytes(range(256)) * (frames * 2 // 256) + b"\0" * (frames * 2 % 256))


async def finalisations(
    finaliser: Finaliser, n: int, gap: float, seconds: float, out: list[float] | None = None
) -> list[float]:
    """Latencies (s) of ``n`` finalisations, one every ``gap`` seconds (also into ``out``)."""
    out = [] if out is None else out
    for _ in range(n):
        audio_id, case_id = uuid.uuid4(), uuid.uuid4()
        name = recording_name("rec", audio_id, case_id)
        await asyncio.to_thread(_write_wav, finaliser.source(name), seconds)
        t0 = time.perf_counter()
        await finaliser.finalise(name, AudioKind.RECORDING, TENANT, audio_id, datetime.now(UTC))
        out.append(time.perf_counter() - t0)
        await asyncio.sleep(gap)
    return out


async def flood(
    guess: Callable[[int], Awaitable[object]], rate: float, stop: asyncio.Event
) -> Counter[str]:
    """Fire ``rate`` guesses per second until ``stop``; how each ended."""
    outcomes: Counter[str] = Counter()
    tasks: set[asyncio.Task[None]] = set()

    async def one(i: int) -> None:
        try:
            await guess(i)
            outcomes["checked"] += 1
        except Problem as p:
            outcomes[f"refused {p.status}"] += 1

    i, start = 0, time.perf_counter()
    while not stop.is_set():
        task = asyncio.create_task(one(i))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
        i += 1
        outcomes["sent"] += 1
        await asyncio.sleep(max(0.0, start + i / rate - time.perf_counter()))
    outcomes["unfinished"] = len(tasks)
    for task in list(tasks):
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    return outcomes


async def logins_per_second(identity: Identity, clients: int, span: float) -> float:
    done, deadline = 0, time.perf_counter() + span

    async def client() -> None:
        nonlocal done
        while time.perf_counter() < deadline:
            try:
                if await identity.password("bench", PASSWORD, "127.0.0.1", via="basic"):
                    done += 1
            except Problem:
                await asyncio.sleep(0.005)

    t0 = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(clients)))
    return done / (time.perf_counter() - t0)


def _p95(values: list[float]) -> float:
    return statistics.quantiles(values, n=20)[18] if len(values) >= 2 else values[0]


def _ms(values: list[float]) -> str:
    return f"median {statistics.median(values) * 1000:7.1f} ms  p95 {_p95(values) * 1000:7.1f} ms"


async def _with(
    work: Callable[[list[float]], Awaitable[list[float]]],
    guess: Callable[[int], Awaitable[object]],
    rate: float,
    limit: float,
) -> tuple[list[float], Counter[str], bool]:
    """(latencies, the flood's outcomes, whether every finalisation ended within ``limit`` s)."""
    stop = asyncio.Event()
    flooding = asyncio.create_task(flood(guess, rate, stop))
    await asyncio.sleep(1.0)  # let the flood reach its steady state first
    latencies: list[float] = []
    try:
        await asyncio.wait_for(work(latencies), limit)
        finished = True
    except TimeoutError:
        finished = False
    stop.set()
    return latencies, await flooding, finished


async def run(args: argparse.Namespace) -> None:
    hasher = Hasher()
    pool = BoundedPool(args.workers, args.queue, nice=args.nice)
    user, stored = _user(), await hasher.hash(PASSWORD)

    async def lookup(login: str) -> tuple[UserInfo, str] | None:
        return (user, stored) if login == "bench" else None

    def backoff() -> Backoff:
        return Backoff(free=3, base=1.0, cap=300.0)

    identity = Identity(
        PasswordCheck(lookup, hasher.on(pool), VerifiedCache(time_now, ttl=timedelta(0))),
        None, None, _NoAudit(), time_now,  # type: ignore[arg-type]
        SessionPolicy(timedelta(minutes=30), timedelta(hours=12)),
        by_login=backoff(), by_address=backoff(),
    )  # fmt: skip
    await identity.passwords.prepare()
    dummy = await hasher.hash("dummy-for-the-old-path")

    async def bounded_guess(i: int) -> object:
        address = f"10.{(i >> 16) & 255}.{(i >> 8) & 255}.{i & 255}"
        return await identity.password(f"guess-{i}", "wrong", address, via="basic")

    async def old_guess(i: int) -> object:
        return await hasher.verify(dummy, "wrong")  # the old guard: to_thread, no bound

    with tempfile.TemporaryDirectory(prefix="linja-bench-auth-") as tmp:
        spool = Path(tmp) / "spool"
        spool.mkdir()
        finaliser = Finaliser(AudioStore(Path(tmp) / "store"), spool)

        def stream(out: list[float] | None = None) -> Coroutine[Any, Any, list[float]]:
            return finalisations(finaliser, args.recordings, args.gap, args.seconds, out)

        size = 8000 * 2 * args.seconds / 2**20
        print(
            f"bench-auth: {hasher.describe()}; bounded pool {args.workers} threads "
            f"(nice {args.nice}) + {args.queue} queued; {args.recordings} recordings of "
            f"{args.seconds:.0f} s ({size:.2f} MiB) finalised by recording.finalise.Finaliser, "
            f"one every {args.gap} s"
        )
        alone = await stream()
        print(f"finalisation, no flood (baseline)         {_ms(alone)}")
        limit = 10 * sum(alone) + args.recordings * args.gap + 10
        phases = [("bounded pool    ", bounded_guess)]
        if not args.skip_old:
            phases.append(("old default pool", old_guess))
        for label, guess in phases:
            got, outcome, finished = await _with(stream, guess, args.rate, limit)
            late = "" if finished else f"  ONLY {len(got)} of {args.recordings} in {limit:.0f} s"
            if not got:
                floor = limit / statistics.median(alone)
                print(
                    f"finalisation, {args.rate:.0f}/s flood, {label} none finished{late}: "
                    f"ratio > {floor:.0f}x median  guesses {dict(outcome)}"
                )
                continue
            print(
                f"finalisation, {args.rate:.0f}/s flood, {label} {_ms(got)}  "
                f"ratio {statistics.median(got) / statistics.median(alone):.2f}x median, "
                f"{_p95(got) / _p95(alone):.2f}x p95 (target <= 2x){late}  "
                f"guesses {dict(outcome)}"
            )
        clients = args.workers + args.queue
        quiet = await logins_per_second(identity, clients, args.span)
        busy_task: asyncio.Task[list[float]] = asyncio.create_task(stream())
        during = await logins_per_second(identity, clients, args.span)
        busy = await busy_task
        print(
            f"logins/s through the bounded pool (cache off): alone {quiet:.1f}/s, while "
            f"recordings are finalised {during:.1f}/s ({during / quiet:.2f}x); "
            f"finalisation meanwhile {_ms(busy)}"
        )
    pool.close()


def time_now() -> datetime:
    return datetime.now(UTC)


def main() -> None:
    from ivr.config import Settings

    s = Settings()
    parser = argparse.ArgumentParser(prog="bench-auth", description=__doc__)
    parser.add_argument("--rate", type=float, default=50.0, help="guesses per second")
    parser.add_argument("--recordings", type=int, default=30)
    parser.add_argument("--seconds", type=float, default=60.0, help="audio per recording")
    parser.add_argument("--gap", type=float, default=0.1, help="seconds between recordings")
    parser.add_argument("--span", type=float, default=3.0, help="seconds per logins/s figure")
    parser.add_argument("--workers", type=int, default=s.password_workers)
    parser.add_argument("--queue", type=int, default=s.password_queue)
    parser.add_argument("--nice", type=int, default=s.password_nice)
    parser.add_argument("--skip-old", action="store_true", help="skip the old unbounded path")
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
