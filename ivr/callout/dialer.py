"""The call-out dialer: every poll (or notify()), for each running call-out, the policy says
who to call now; each such member is **claimed** in Postgres (lease + both caps, see
:mod:`storage.repositories.callouts`) and called in a task of its own.

::

    poll ─ running call-outs ─ members ─ policy.decide(now)
        │ done       ──> finish (status), end this controller's calls politely
        │ escalate   ──> add the escalation group (once, whoever gets there first)
        └ call [ids] ──> claim (cap per call-out and in total) ─ lost ─> skip
                           │ a dead controller's orphaned leg: hung up first
                           │ restricted member (subject restriction): failed, not called
                           └ task: attempt row ─ MemberCall ─ end attempt + member state

A lease is renewed every ``lease / 3`` while the call goes on, so after a ``kill -9`` the
member can be claimed again once ``lease`` seconds have passed, or as soon as the holder is
down by its heartbeat (``LINJA_CONTROLLER_DOWN_AFTER``; a lost node): the new holder ends the
old attempt as ``interrupted`` (``answered`` if it had been) and hangs up the old leg before
dialling (through its own node: a lost node's legs went with it). Confirmations and
refusals are stored as the key is pressed (with the lease kept until the thanks are said),
so a confirmed member is never called again. New calls start at most ``rate`` per second
on this controller.

An expired lease of another controller is taken over only once Postgres has answered this
one for ``takeover_grace`` seconds (:class:`ivr.callbacks.outbox.TakeoverGate`), so a holder
that is alive has written what it spooled first.

Errors it expects: the database unavailable or refusing (:mod:`storage.errors`: the poll is
retried; an attempt's answer and end (a confirmation among them) and a release that cannot be
written go to the outcome spool, :mod:`ivr.callout.outbox`, fsync'd, and are written in order
at the next polls; while anything is kept there nothing is claimed, also after a restart, so
a member who confirmed is not called again; an attempt that cannot be started leaves the
lease to expire), ARI failing (:mod:`ivr.ari.errors`: the attempt is a ``failed`` one).
Anything else is a bug: logged with its traceback and the call-out id.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Protocol

from ivr.callbacks.outbox import TakeoverGate
from ivr.callout.call import CallResult, CallSpec, MemberCall
from ivr.callout.outbox import CalloutOutbox, CalloutWrite
from ivr.callout.policy import (
    AttemptOutcome,
    MemberState,
    MemberView,
    Plan,
    after_attempt,
    decide,
    number_for,
)
from ivr.clock import Clock
from ivr.flows.restriction import Restrictions
from storage.errors import SpoolError, StorageError, StorageUnavailable
from storage.repositories.callouts import CalloutMemberRow, CalloutRow, Claim

__all__ = ["CalloutConfig", "CalloutDialer", "CalloutStore", "plan_of"]

log = logging.getLogger(__name__)

RECHECK = timedelta(seconds=10)  # a member whose restriction could not be checked: again after


class CalloutStore(Protocol):
    """What the dialer needs of the call-out tables (CalloutRepository)."""

    async def running(self) -> list[CalloutRow]: ...

    async def members(self, callout_id: uuid.UUID) -> list[CalloutMemberRow]: ...

    async def claim_many(
        self,
        callout_member_ids: Sequence[uuid.UUID],
        controller: str,
        now: datetime,
        *,
        lease: float,
        total_cap: int,
        takeovers: bool = True,
    ) -> list[Claim]: ...

    async def renew(self, callout_member_id: uuid.UUID, controller: str, now: datetime) -> bool: ...

    async def release(
        self,
        callout_member_id: uuid.UUID,
        controller: str,
        *,
        state: str | None = None,
        now: datetime | None = None,
        next_at: datetime | None = None,
    ) -> None: ...

    async def start_attempt(
        self,
        callout_member_id: uuid.UUID,
        number: str,
        channel_id: str,
        controller: str,
        now: datetime,
    ) -> int: ...

    async def attempt_answered(
        self, callout_member_id: uuid.UUID, attempt_no: int, at: datetime
    ) -> None: ...

    async def end_attempt(
        self,
        callout_member_id: uuid.UUID,
        attempt_no: int,
        controller: str,
        at: datetime,
        *,
        outcome: str,
        key: str | None,
        state: str,
        next_at: datetime | None,
        counts: bool = True,
        keep_lease: bool = False,
    ) -> bool: ...

    async def finish(self, callout_id: uuid.UUID, status: str, now: datetime) -> bool: ...

    async def audio(self, callout_id: uuid.UUID) -> bytes: ...

    async def escalate(self, callout_id: uuid.UUID, now: datetime) -> int: ...


@dataclass(frozen=True)
class CalloutConfig:
    controller_id: str  # names this controller's leases and attempts
    poll_interval: float = 1.0
    lease: float = 30.0  # seconds a claim lasts unless renewed (renewed every lease / 3)
    total_cap: int = 30  # calls at once over all call-outs and controllers (K in total)
    rate: float = 5.0  # new calls per second on this controller (R)
    takeover_grace: float = 15.0  # Postgres answering us this long before a takeover


@dataclass
class _Job:
    callout_id: uuid.UUID
    decided: bool = False  # the key was stored: let the thanks finish
    task: asyncio.Task[None] | None = field(default=None, repr=False)


def plan_of(c: CalloutRow) -> Plan:
    return Plan(
        needed=c.needed,
        started_at=c.started_at,
        wait=timedelta(seconds=c.wait_seconds),
        window=timedelta(seconds=c.window_seconds),
        max_attempts=c.max_attempts,
        retry_delay=timedelta(seconds=c.retry_delay),
        max_parallel=c.max_parallel,
        has_escalation=c.escalate_group_id is not None,
        escalated=c.escalated_at is not None,
    )


class CalloutDialer:
    def __init__(
        self,
        store: CalloutStore,
        call: MemberCall,
        clock: Clock,
        config: CalloutConfig,
        *,
        restrictions: Restrictions,
        hangup_orphan: Callable[[str], Awaitable[None]],
        outcomes: CalloutOutbox,
    ) -> None:
        self._store = store
        self._call = call
        self._clock = clock
        self._cfg = config
        self._restrictions = restrictions
        self._hangup_orphan = hangup_orphan
        self._jobs: dict[uuid.UUID, _Job] = {}  # by callout_members.id
        self._wake = asyncio.Event()
        self._next_dial = 0.0  # loop time before which no new call starts (rate)
        self._outcomes = outcomes
        self._gate = TakeoverGate(config.takeover_grace)

    @property
    def me(self) -> str:
        return self._cfg.controller_id

    def notify(self) -> None:
        """Look at the call-outs soon (one was started, a call ended)."""
        self._wake.set()

    async def run(self) -> None:
        """Polls until cancelled; cancelling ends this controller's calls politely and
        leaves their leases to expire."""
        try:
            self._outcomes.open()
            while True:
                self._wake.clear()
                try:
                    if await self._outcomes.replay(self._write):
                        await self.poll()
                    else:
                        self._gate.failed()
                        log.warning(
                            "callout dialer: outcomes wait for Postgres in %s; claiming nothing",
                            self._outcomes.directory,
                        )
                except StorageError as exc:
                    self._gate.failed()
                    log.warning("callout dialer: cannot read call-outs (%s); retrying", exc)
                except Exception:
                    log.exception("callout dialer: poll failed unexpectedly; polling on")
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(self._cfg.poll_interval):
                        await self._wake.wait()
        finally:
            tasks = [j.task for j in self._jobs.values() if j.task is not None]
            for task in tasks:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(BaseException):
                    await task
            await self._outcomes.close()

    async def poll(self) -> None:
        running = await self._store.running()
        self._gate.answered()
        ids = {c.id for c in running}
        self._end_calls(lambda job: job.callout_id not in ids)  # cancelled, or ended elsewhere
        for callout in running:
            try:
                await self._step(callout)
            except StorageError as exc:
                log.warning("[callout %s] step failed (%s); next poll", callout.id, exc)

    async def _step(self, c: CalloutRow) -> None:
        members = await self._store.members(c.id)
        now = self._clock()
        plan = plan_of(c)
        decision = decide(plan, [self._view(m, now) for m in members], now)
        if decision.done is not None:
            if await self._store.finish(c.id, decision.done.value, now):
                log.info("[callout %s] ended: %s", c.id, decision.done)
            self._end_calls(lambda job: job.callout_id == c.id)
            return
        if decision.escalate:
            added = await self._store.escalate(c.id, now)
            log.info("[callout %s] wait passed: escalated (%d members added)", c.id, added)
            self.notify()
        if not decision.call:
            return
        # One claim for every free slot (the caps are counted once, under the claim lock);
        # the calls then start paced at ``rate`` in their own tasks.
        claims = await self._store.claim_many(
            decision.call,
            self.me,
            self._clock(),
            lease=self._cfg.lease,
            total_cap=self._cfg.total_cap,
            takeovers=self._gate.open(),
        )
        for claim in claims:
            await self._start(c, plan, claim)

    def _view(self, m: CalloutMemberRow, now: datetime) -> MemberView:
        leased = (
            m.dialing_by is not None
            and m.dialing_since is not None
            and m.dialing_since >= now - timedelta(seconds=self._cfg.lease)
            and not m.holder_down  # a lost node's lease: taken over by the next claim
        )
        return MemberView(
            id=m.id,
            position=m.position,
            state=MemberState(m.state),
            attempts=m.attempts,
            next_at=m.next_at,
            busy=leased or m.id in self._jobs,
        )

    async def _pace(self) -> None:
        """Waits for this call's turn: at most ``rate`` new calls a second. The turn is
        reserved before waiting, so calls paced at once queue up in order."""
        loop = asyncio.get_running_loop()
        now = loop.time()
        turn = max(now, self._next_dial)
        self._next_dial = turn + 1.0 / self._cfg.rate
        if turn > now:
            await asyncio.sleep(turn - now)

    async def _start(self, c: CalloutRow, plan: Plan, claim: Claim) -> None:
        m = claim.member
        tag = f"callout {c.id} member {m.id}"
        if claim.orphans:
            # A dead controller's call: hang its leg up, then judge the interrupted attempt
            # like any other (the next poll calls them again if the policy says so).
            for orphan in claim.orphans:
                log.warning("[%s] hanging up channel %s left by a dead controller", tag, orphan)
                await self._hangup_orphan(orphan)
            now = self._clock()
            state, next_at = after_attempt(
                plan, AttemptOutcome.INTERRUPTED, m.attempts, len(m.numbers), now
            )
            await self._store.release(m.id, self.me, state=state.value, now=now, next_at=next_at)
            log.info("[%s] interrupted attempt taken over: member %s", tag, state)
            self.notify()
            return
        job = _Job(c.id)
        self._jobs[m.id] = job
        job.task = asyncio.create_task(self._serve(c, plan, m, job, tag), name=f"co-{m.id}")

    async def _restricted(self, c: CalloutRow, m: CalloutMemberRow, tag: str) -> bool | None:
        """Whether the member's processing is restricted; None when that cannot be told."""
        for number in m.numbers:
            try:
                if await self._restrictions.is_restricted(c.tenant_id, number=number):
                    return True
            except StorageError as exc:
                log.warning("[%s] restriction check failed (%s): not calling now", tag, exc)
                return None
        return False

    async def _may_call(self, c: CalloutRow, m: CalloutMemberRow, tag: str) -> bool:
        """After the call's turn (rate): a restricted member is failed, not called; one whose
        restriction cannot be checked now is tried again later."""
        try:
            await self._pace()
            restricted = await self._restricted(c, m, tag)
        except asyncio.CancelledError:  # the call-out ended before the call started
            await asyncio.shield(self._store.release(m.id, self.me))
            raise
        if restricted is False:
            return True
        if restricted:
            state, later = MemberState.FAILED, None
            log.info("[%s] processing restricted: not called", tag)
        else:
            state, later = MemberState.PENDING, self._clock() + RECHECK
        await self._store.release(
            m.id, self.me, state=state.value, now=self._clock(), next_at=later
        )
        return False

    def _end_calls(self, which: Callable[[_Job], bool]) -> None:
        for job in self._jobs.values():
            if which(job) and not job.decided and job.task is not None:
                job.task.cancel()

    async def _serve(
        self, c: CalloutRow, plan: Plan, m: CalloutMemberRow, job: _Job, tag: str
    ) -> None:
        renewer = asyncio.create_task(self._renew(m.id, tag))
        try:
            if await self._may_call(c, m, tag):
                await self._attempt(c, plan, m, job, tag)
        except StorageError as exc:
            log.warning("[%s] attempt not stored (%s); the lease expires", tag, exc)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("[%s] call failed unexpectedly; the lease expires", tag)
        finally:
            renewer.cancel()
            with contextlib.suppress(BaseException):
                await renewer
            if self._jobs.get(m.id) is job:
                del self._jobs[m.id]
            self.notify()

    async def _renew(self, member_id: uuid.UUID, tag: str) -> None:
        while True:
            await asyncio.sleep(self._cfg.lease / 3)
            try:
                if not await self._store.renew(member_id, self.me, self._clock()):
                    log.warning("[%s] lease lost", tag)
            except StorageError as exc:
                log.warning("[%s] lease renewal failed: %s", tag, exc)

    async def _attempt(
        self, c: CalloutRow, plan: Plan, m: CalloutMemberRow, job: _Job, tag: str
    ) -> None:
        used = m.attempts + 1
        number = number_for(m.numbers, used)
        channel_id = f"co-{c.id.hex[:8]}-{m.id.hex[:8]}-{uuid.uuid4().hex[:8]}"
        attempt_no = await self._store.start_attempt(
            m.id, number, channel_id, self.me, self._clock()
        )
        tag = f"{tag} attempt {attempt_no}"
        spec = CallSpec(
            channel_id=channel_id,
            number=number,
            message=c.message,
            tenant=c.tenant,
            language=c.language,
            ring_seconds=c.ring_seconds,
            pin_hash=m.pin_hash if c.pin_required else None,
            audio_key=c.audio_sha256,
            audio=lambda: self._store.audio(c.id),
            tag=tag,
        )

        async def answered(at: datetime) -> None:
            await self._record(CalloutWrite("answered", m.id, self.me, at, attempt_no), tag)

        async def decided(outcome: AttemptOutcome, key: str) -> None:
            state, _ = after_attempt(plan, outcome, used, len(m.numbers), self._clock())
            await self._record(
                CalloutWrite(
                    "end_attempt", m.id, self.me, self._clock(), attempt_no,
                    outcome=outcome.value, digit=key, state=state.value, keep_lease=True,
                ),
                tag,
            )  # fmt: skip
            job.decided = True
            self.notify()

        try:
            result: CallResult = await self._call.run(spec, answered, decided)
        except asyncio.CancelledError:
            if not job.decided:
                await asyncio.shield(self._ended(m, attempt_no))
            raise
        ended = self._clock()
        if job.decided:
            await self._record(CalloutWrite("release", m.id, self.me), tag)
            return
        state, next_at = after_attempt(plan, result.outcome, used, len(m.numbers), ended)
        await self._record(
            CalloutWrite(
                "end_attempt", m.id, self.me, ended, attempt_no,
                outcome=result.outcome.value, digit=result.key, state=state.value,
                next_at=next_at,
            ),
            tag,
        )  # fmt: skip
        log.info(
            "[%s] %s; member %s%s",
            tag,
            result.outcome,
            state,
            f", next try at {next_at.isoformat()}" if next_at is not None else "",
        )

    async def _ended(self, m: CalloutMemberRow, attempt_no: int) -> None:
        """The call-out ended during the call: the attempt is closed, not counted."""
        await self._record(
            CalloutWrite(
                "end_attempt", m.id, self.me, self._clock(), attempt_no,
                outcome=AttemptOutcome.ENDED.value, state=MemberState.PENDING.value,
                counts=False,
            ),
            f"member {m.id}",
        )  # fmt: skip

    async def _record(self, w: CalloutWrite, tag: str) -> None:
        """An outcome write: straight to the store, or to the outcome spool when Postgres is
        unavailable or earlier writes wait there (they are written in order)."""
        if self._outcomes.empty:
            try:
                await self._write(w)
                return
            except StorageUnavailable as exc:
                self._gate.failed()
                log.warning("[%s] %s failed (%s); spooling it", tag, w.op, exc)
            except StorageError as exc:  # refused: trying again cannot help
                log.error("[%s] %s refused by the database: %s", tag, w.op, exc)
                return
        try:
            await self._outcomes.add(w)
        except SpoolError as exc:
            log.critical(
                "[%s] %s could not be stored nor spooled (%s): the lease expires", tag, w.op, exc
            )
            return
        self.notify()

    async def _write(self, w: CalloutWrite) -> None:
        """Makes one (possibly spooled) write; raises StorageError as the store does
        (ValueError for a write missing what its op needs)."""
        if w.op == "release":
            await self._store.release(w.member, w.controller)
        elif w.op == "answered" and w.at is not None and w.attempt_no is not None:
            await self._store.attempt_answered(w.member, w.attempt_no, w.at)
        elif w.op == "end_attempt" and w.at and w.attempt_no and w.outcome and w.state:
            kept = await self._store.end_attempt(
                w.member, w.attempt_no, w.controller, w.at,
                outcome=w.outcome, key=w.digit, state=w.state, next_at=w.next_at,
                counts=w.counts, keep_lease=w.keep_lease,
            )  # fmt: skip
            if not kept:
                log.warning("[member %s] attempt %s ended; lease lost", w.member, w.attempt_no)
        else:
            raise ValueError(f"malformed call-out write {w!r}")
