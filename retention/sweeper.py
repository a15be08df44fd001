"""The retention sweeper: delete audio past its tenant's retention, anonymise old cases, and
keep the audio store and the database in step.

One run (``linja sweep``, or periodically inside the service), holding the sweep lock:

1. finish deletions a crashed run (or erasure) left half done: unlink, mark deleted;
2. remove stale ``.tmp`` files of interrupted store writes;
3. recordings, then voice messages, in batches: claim (intent committed), unlink, mark
   deleted with time and reason ``retention``, one audit entry per batch and tenant;
4. blank the caller's personal data of cases past ``case_retention`` (timings stay),
   tenant by tenant in batches of ``batch`` cases, one transaction and audit entry each;
   with an :class:`AttemptBlanker` given, the same for ended call-outs (issue 16: staff
   and partners phoned by a call-out): the numbers of their attempts, and their members'
   link to the group membership (who was called); outcomes and times stay;
5. remove files with no live row: at once if their row is deleted, after a grace period if
   there is no row at all (the recorder writes the file first, then the row);
6. with a transcript repository given: delete transcripts past the tenant's
   ``transcript_retention`` (issue 18), ``batch`` at a time;
7. with :class:`retention.copies.Copies` given: remove converted listening copies and API
   export bundles past their TTL. The converted copies of audio deleted in steps 1 and 3 go
   with it, in the same step.

A step that fails (database error, disk error, a bug) does not stop the others: it is
logged with what it had done, named in :attr:`SweepReport.failed` and in the summary, and
the next steps run; the next sweep tries it again.

The invariant after a completed run, whatever was killed before it: every file in the store
has a live row, every live row has its file. Legal-hold rows are never claimed; users, audit
log, listening events and erasure ledger are never touched. Memory is bounded by the batch
size: rows and files are streamed, never loaded whole.

``now`` comes from the injected clock (retention decisions, ``deleted_at``); file ages use
the wall clock (``wall``), because file mtimes are real time.
"""

from __future__ import annotations

import asyncio
import functools
import itertools
import logging
import os
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Literal, Protocol

from recording.journal import RowJournal
from recording.store import AudioStore, BadLocation
from retention.copies import Copies
from storage.domain import Actor
from storage.errors import StorageError
from storage.repositories.cases import BlankedBatch
from storage.repositories.sweep import (
    AUDIO_TABLES,
    KIND,
    AudioTable,
    Claimed,
    SweepLock,
    SweepRepository,
)

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]
Printer = Callable[[str], None]


class TranscriptExpirer(Protocol):
    async def delete_expired(self, now: datetime, *, limit: int = 500) -> int: ...


class CaseBlanker(Protocol):
    async def blank_expired_batch(
        self,
        tenant_id: uuid.UUID,
        now: datetime,
        actor: Actor,
        *,
        after: datetime | None,
        limit: int,
    ) -> BlankedBatch: ...


class AttemptBlanker(Protocol):
    async def blank_expired_numbers(
        self, tenant_id: uuid.UUID, now: datetime, actor: Actor, *, limit: int
    ) -> int: ...


# The steps of a run, in order (see the module docstring); a failed one is named by these.
Step = Literal[
    "recover",
    "temps",
    "recordings",
    "voice_messages",
    "cases",
    "callouts",
    "strays",
    "transcripts",
    "copies",
]
STEP_TEXT: dict[Step, str] = {
    "recover": "finishing half-done deletions",
    "temps": "removing temp files",
    "recordings": "deleting recordings",
    "voice_messages": "deleting voice messages",
    "cases": "anonymising cases",
    "callouts": "blanking call-out numbers",
    "strays": "removing stray files",
    "transcripts": "deleting transcripts",
    "copies": "removing expired copies",
}


@dataclass(frozen=True, slots=True)
class SweepConfig:
    batch: int = 500
    orphan_grace: timedelta = timedelta(hours=24)
    temp_grace: timedelta = timedelta(hours=1)
    erasure_grace: timedelta = timedelta(minutes=5)
    rate: float | None = None  # files per second at most (None: as fast as possible)

    def __post_init__(self) -> None:
        if not 1 <= self.batch <= 50_000:
            raise ValueError("batch must be between 1 and 50000")
        if self.rate is not None and self.rate <= 0:
            raise ValueError("rate must be positive")


@dataclass
class SweepReport:
    now: datetime
    dry_run: bool = False
    busy: bool = False  # another sweep held the lock; nothing was done
    deleted: dict[str, int] = field(default_factory=dict)  # kind -> rows marked deleted
    recovered: int = 0  # half-done deletions finished
    missing_files: int = 0  # claimed rows whose file was already gone
    temps_removed: int = 0
    orphans_removed: int = 0  # files with no row at all (past the grace period)
    tombstoned_removed: int = 0  # files whose row was already marked deleted
    orphans_young: int = 0  # files with no row yet, inside the grace period (kept)
    orphans_journaled: int = 0  # files with no row yet but one in the audio-row journal (kept)
    cases_blanked: int = 0
    callout_numbers_blanked: int = 0  # call-out attempts and members past case retention
    transcripts_deleted: int = 0
    copies_removed: int = 0  # converted listening copies (of deleted audio, or expired)
    exports_removed: int = 0  # API export bundles past their TTL
    failed: dict[Step, str] = field(default_factory=dict)  # step -> error; the rest still ran
    seconds: float = 0.0

    def progress(self, step: Step) -> str:
        """What ``step`` had done (for the log line of a step that failed part way)."""
        if step == "recover":
            return f"{self.recovered} half-done deletions finished"
        if step == "temps":
            return f"{self.temps_removed} temp files removed"
        if step in ("recordings", "voice_messages"):
            kind = KIND[step]
            return f"{self.deleted.get(kind, 0)} {kind.replace('_', ' ')}s deleted"
        if step == "cases":
            return f"{self.cases_blanked} cases anonymised"
        if step == "callouts":
            return f"{self.callout_numbers_blanked} call-out numbers and members blanked"
        if step == "transcripts":
            return f"{self.transcripts_deleted} transcripts deleted"
        if step == "copies":
            return f"{self.copies_removed} copies, {self.exports_removed} export bundles removed"
        return f"{self.orphans_removed + self.tombstoned_removed} stray files removed"

    def summary(self) -> str:
        if self.busy:
            return "sweep skipped: another sweep is running"
        verb = "would delete" if self.dry_run else "deleted"
        kinds = ", ".join(f"{n} {k.replace('_', ' ')}s" for k, n in self.deleted.items())
        kinds = kinds or "nothing"
        parts = [f"{verb} {kinds}"]
        if not self.dry_run:
            parts.append(f"{self.recovered} half-done deletions finished")
            parts.append(f"{self.cases_blanked} cases anonymised")
            if self.callout_numbers_blanked:
                parts.append(f"{self.callout_numbers_blanked} call-out numbers and members blanked")
            if self.transcripts_deleted:
                parts.append(f"{self.transcripts_deleted} transcripts deleted")
        gone = "to remove" if self.dry_run else "removed"
        parts.append(f"{self.orphans_removed + self.tombstoned_removed} stray files {gone}")
        parts.append(f"{self.temps_removed} temp files {gone}")
        if self.copies_removed or self.exports_removed:
            parts.append(f"{self.copies_removed} converted copies removed")
            parts.append(f"{self.exports_removed} export bundles removed")
        if self.orphans_young:
            parts.append(f"{self.orphans_young} new files without a row yet kept")
        if self.orphans_journaled:
            parts.append(f"{self.orphans_journaled} files whose row is still journaled kept")
        for step, error in self.failed.items():
            parts.append(f"FAILED {STEP_TEXT[step]}: {error}")
        return f"sweep at {self.now.isoformat()}: " + "; ".join(parts) + f" ({self.seconds:.2f}s)"


class Sweeper:
    def __init__(
        self,
        repo: SweepRepository,
        lock: SweepLock,
        cases: CaseBlanker,
        store: AudioStore,
        clock: Clock,
        config: SweepConfig | None = None,
        *,
        wall: Callable[[], float] = time.time,
        journal: RowJournal,
        actor: Actor | None = None,
        copies: Copies | None = None,
        callouts: AttemptBlanker | None = None,
        transcripts: TranscriptExpirer | None = None,
    ) -> None:
        self._transcripts = transcripts
        self._repo = repo
        self._callouts = callouts
        self._lock = lock
        self._cases = cases
        self._store = store
        self._clock = clock
        self._config = config or SweepConfig()
        self._wall = wall
        self._actor = actor or Actor.system("sweeper")
        self._copies = copies
        self._journal = journal

    async def run(self, *, dry_run: bool = False, out: Printer | None = None) -> SweepReport:
        now = self._clock()
        if now.tzinfo is None:
            raise ValueError("the sweep clock must give timezone-aware times")
        started = time.perf_counter()
        report = SweepReport(now=now, dry_run=dry_run)
        if dry_run:
            await self._dry_run(report, out or (lambda _line: None))
        else:
            async with self._lock.hold() as got:
                if not got:
                    report.busy = True
                    log.warning("[sweep] another sweep holds the lock; skipped")
                    return report
                await self._sweep(report)
        report.seconds = time.perf_counter() - started
        log.info("[sweep] %s", report.summary())
        return report

    # ----- the real thing ---------------------------------------------------------------

    async def _sweep(self, report: SweepReport) -> None:
        """The steps in order. A step that fails is logged with what it had done and named
        in the report; the steps after it still run (each is safe on its own: a row whose
        deletion did not finish is still live, so its file is not a stray)."""
        await self._step(report, "recover", self._recover_all)
        await self._step(report, "temps", self._temps)
        for table in AUDIO_TABLES:
            await self._step(report, table, functools.partial(self._delete_expired, table))
        await self._step(report, "cases", self._blank_cases)
        if self._callouts is not None:
            await self._step(report, "callouts", self._blank_callouts)
        await self._step(report, "strays", lambda r: self._strays(r, dry_run=False))
        if self._transcripts is not None:
            await self._step(report, "transcripts", self._expire_transcripts)
        if self._copies is not None:
            await self._step(report, "copies", self._expire_copies)

    async def _step(
        self, report: SweepReport, step: Step, run: Callable[[SweepReport], Awaitable[None]]
    ) -> None:
        try:
            await run(report)
        except Exception as exc:
            report.failed[step] = f"{type(exc).__name__}: {exc}"
            expected = isinstance(exc, StorageError | OSError)
            log.warning(
                "[sweep] step %r failed (%s) after %s; the other steps go on",
                step,
                report.failed[step],
                report.progress(step),
                exc_info=not expected,
            )

    async def _recover_all(self, report: SweepReport) -> None:
        for table in AUDIO_TABLES:
            await self._recover(table, report)

    async def _temps(self, report: SweepReport) -> None:
        report.temps_removed = await asyncio.to_thread(self._remove_temps, False)

    async def _delete_expired(self, table: AudioTable, report: SweepReport) -> None:
        kind = KIND[table]
        report.deleted[kind] = 0
        for tenant_id in await self._repo.tenants():
            while True:
                claimed = await self._repo.claim_expired(
                    table, tenant_id, report.now, datetime.now(UTC), limit=self._config.batch
                )
                if not claimed:
                    break
                report.missing_files += await asyncio.to_thread(self._unlink, claimed)
                report.copies_removed += await self._drop_copies(claimed)
                report.deleted[kind] += await self._repo.finish(
                    table, claimed, report.now, self._actor
                )
                log.debug(
                    "[sweep %s] %s: %d deleted so far", tenant_id, table, report.deleted[kind]
                )

    async def _blank_cases(self, report: SweepReport) -> None:
        """Case retention, tenant by tenant, ``batch`` cases per transaction."""
        limit = self._config.batch
        for tenant_id in await self._repo.tenants():
            after: datetime | None = None
            while True:
                done = await self._cases.blank_expired_batch(
                    tenant_id, report.now, self._actor, after=after, limit=limit
                )
                report.cases_blanked += done.cases
                if done.cases:
                    log.debug(
                        "[sweep %s] cases: %d anonymised so far", tenant_id, report.cases_blanked
                    )
                if done.last is None or done.cases < limit:
                    break
                after = done.last

    async def _blank_callouts(self, report: SweepReport) -> None:
        """Case retention for call-outs' numbers and members, ``batch`` per transaction."""
        assert self._callouts is not None
        for tenant_id in await self._repo.tenants():
            while True:
                done = await self._callouts.blank_expired_numbers(
                    tenant_id, report.now, self._actor, limit=self._config.batch
                )
                report.callout_numbers_blanked += done
                if done < self._config.batch:
                    break

    async def _expire_transcripts(self, report: SweepReport) -> None:
        assert self._transcripts is not None
        while True:
            n = await self._transcripts.delete_expired(report.now, limit=self._config.batch)
            report.transcripts_deleted += n
            if n < self._config.batch:
                return

    async def _recover(self, table: AudioTable, report: SweepReport) -> None:
        cutoff = datetime.now(UTC) - self._config.erasure_grace
        after = None
        while True:
            stuck = await self._repo.stuck(
                table, erasure_before=cutoff, after=after, limit=self._config.batch
            )
            if not stuck:
                return
            after = stuck[-1].id
            report.missing_files += await asyncio.to_thread(self._unlink, stuck)
            report.copies_removed += await self._drop_copies(stuck)
            marked = await self._repo.finish(table, stuck, report.now, self._actor)
            log.info("[sweep] %s: finished %d half-done deletions", table, marked)
            report.recovered += marked

    async def _drop_copies(self, claimed: list[Claimed]) -> int:
        """The converted copies of audio being deleted go with it."""
        if self._copies is None:
            return 0
        return await asyncio.to_thread(self._copies.drop_audio, [c.id for c in claimed])

    async def _expire_copies(self, report: SweepReport) -> None:
        if self._copies is None:
            return
        expired = await asyncio.to_thread(self._copies.expire, self._wall())
        report.copies_removed += expired.converted
        report.exports_removed += expired.bundles

    def _unlink(self, claimed: list[Claimed]) -> int:
        """Remove the files (in a worker thread); returns how many were already gone."""
        missing = 0
        rate = self._config.rate
        t0 = time.perf_counter()
        for i, c in enumerate(claimed):
            try:
                if not self._store.delete(c.location):
                    missing += 1
            except BadLocation:
                log.error("[%s] location is not in the store layout; row marked deleted", c.id)
                missing += 1
            if rate is not None:
                lag = (i + 1) / rate - (time.perf_counter() - t0)
                if lag > 0:
                    time.sleep(lag)
        return missing

    def _remove_temps(self, dry_run: bool) -> int:
        limit = self._wall() - self._config.temp_grace.total_seconds()
        n = 0
        for path in self._store.stale_temps():
            try:
                if path.stat().st_mtime < limit:
                    if not dry_run:
                        path.unlink(missing_ok=True)
                    n += 1
            except FileNotFoundError:
                continue
        return n

    async def _strays(self, report: SweepReport, *, dry_run: bool) -> None:
        """Files without a live row: tombstoned rows' files at once, no-row files after the
        grace period. Streams the store in chunks of ``batch`` locations."""
        walker: Iterator[str] = self._store.walk()
        grace_limit = self._wall() - self._config.orphan_grace.total_seconds()
        # Rows not yet in the table (a callback recording during an outage) keep their files.
        journaled = await asyncio.to_thread(self._journal.locations)
        removed: list[str] = []
        while True:
            chunk = await asyncio.to_thread(
                lambda: list(itertools.islice(walker, self._config.batch))
            )
            if not chunk:
                break
            states = await self._repo.states(chunk)
            for loc in chunk:
                live = states.get(loc)
                if live:
                    continue
                path = self._store.path(loc)
                try:
                    mtime = path.stat().st_mtime
                except FileNotFoundError:
                    continue
                if live is None and mtime >= grace_limit:
                    report.orphans_young += 1
                    continue
                if live is None and loc in journaled:
                    report.orphans_journaled += 1
                    continue
                if not dry_run:
                    path.unlink(missing_ok=True)
                    removed.append(loc)
                if live is None:
                    report.orphans_removed += 1
                else:
                    report.tombstoned_removed += 1
            if removed and len(removed) >= self._config.batch:
                await self._audit_strays(removed)
                removed = []
        if removed:
            await self._audit_strays(removed)

    async def _audit_strays(self, locations: list[str]) -> None:
        await self._repo.audit(
            "audio.stray_removed",
            self._actor,
            tenant_id=None,
            details={"count": len(locations), "locations": sorted(locations)},
        )

    # ----- dry run: the same decisions, nothing changed ----------------------------------

    async def _dry_run(self, report: SweepReport, out: Printer) -> None:
        for table in AUDIO_TABLES:
            n = 0
            after = None
            while True:
                due = await self._repo.due(table, report.now, after=after, limit=self._config.batch)
                if not due:
                    break
                for d in due:
                    out(f"{KIND[table]} {d.id} completed {d.completed_at.isoformat()} {d.location}")
                n += len(due)
                after = (due[-1].completed_at, due[-1].id)
            report.deleted[KIND[table]] = n
        report.temps_removed = await asyncio.to_thread(self._remove_temps, True)
        await self._strays(report, dry_run=True)


def file_count(root: os.PathLike[str] | str) -> int:
    """Files under ``root`` (tests and the benchmark)."""
    return sum(len(files) for _d, _s, files in os.walk(root))
