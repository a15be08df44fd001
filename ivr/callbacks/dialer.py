"""The callback dialer: puts due callback requests in their queue at the caller's place, and
when one reaches the head and an agent is free, rings the agent, then the customer, and
bridges them.

::

    every poll_interval (or notify()):  store.due() ──> coordinator.join("cb-<id>", since=place)
    ticket event Offered(agents)  ──> store.claim (FOR UPDATE SKIP LOCKED + lease) ── lost ──> leave
                                     │ ring the agents (first to answer takes it)
                                     │   nobody answers: attempt "agent_no_answer", lease back,
                                     │   the entry stays in line for the next agent
                                     │ agent hears "calling back 0 4 0 ..." (digit sounds)
                                     │ dial PJSIP/customers/sip:<number>@<trunk>
                                     │   answered: bridge (Bridger) ──> finish(answered)
                                     │   busy / no answer / failed: tell the agent, hang up;
                                     └──     retry_later(next by policy) or finish(gave_up)

Each request's place is its virtual arrival (``queue_entered_at``), so it is offered among live
callers in arrival order; a retried request comes back at the same place once due. Two
controllers may hold the same request in their engines: only the claim decides who dials it,
and the loser drops its entry. A lease is renewed while the call lasts; if this controller dies
mid-dial, the request is dialled again by whoever polls next once the lease expires, or as
soon as this controller is down by its heartbeat (``LINJA_CONTROLLER_DOWN_AFTER``).

Errors it expects: the database unavailable or refusing (:mod:`storage.errors`: a poll is
retried at the next interval; an attempt's answer and end, a retry, finish or release that
cannot be written is kept in the outcome spool (:mod:`ivr.callbacks.outbox`, fsync'd) and
written, in order, at the next polls; while anything is kept there nothing is claimed, so a
served customer is not called again, not even after a restart; starting an attempt is
retried with backoff; a claim or restriction check that cannot be made leaves the request
for later), ARI failing and legs hanging up (:mod:`ivr.ari.errors`:
told to the agent, or the dial is broken off and left to the lease). Anything else is a bug:
logged with its traceback (and the request id, for a request's task), and the dialer polls on.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import string
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from datetime import datetime
from functools import partial
from typing import TYPE_CHECKING, Any, Protocol

from ivr.ari.call import Call
from ivr.ari.errors import AriError, CallHungUp
from ivr.ari.protocol import AriRest
from ivr.callbacks.orphans import AGENT_LEG, CUSTOMER_LEG
from ivr.callbacks.outbox import OutcomeSpool, PendingWrite, TakeoverGate
from ivr.callbacks.policy import dial_hours, next_attempt_at
from ivr.callcenter.coordinator import (
    Answered,
    Offered,
    Overflow,
    QueueCoordinator,
    Ticket,
)
from ivr.callcenter.engine import Offer
from ivr.callcenter.engine import Outcome as QueueOutcome
from ivr.callcenter.errors import OfferGone, QueueError, TicketClosed
from ivr.clock import Clock
from ivr.flowdefs import is_open
from ivr.flowdefs.model import Queue, TenantFlows
from ivr.flows.notice import NoticeFlow
from ivr.flows.queue import AgentDirectory
from ivr.flows.restriction import Restrictions
from ivr.prompts import PromptRenderer
from ivr.telephony.bridging import NO_RECORDING, Bridger, RecordingPolicy
from ivr.telephony.numbers import InvalidNumber, callable_number, parse_number
from ivr.telephony.ringing import Originator, first_answer
from ivr.texts import Text, text
from storage.errors import SpoolError, StorageError, StorageUnavailable
from storage.events import CallbackOutcome, CallbackResult

if TYPE_CHECKING:
    from storage.repositories.callbacks import CallbackRequest

__all__ = ["CallbackDialer", "CallbackStore", "DialerConfig", "result_for_cause"]

log = logging.getLogger(__name__)

RESULT_TEXT = {
    CallbackResult.BUSY: Text.DIALER_BUSY,
    CallbackResult.NO_ANSWER: Text.DIALER_NO_ANSWER,
    CallbackResult.FAILED: Text.DIALER_FAILED,
}  # what the agent hears when the customer was not reached
BUSY_CAUSES = frozenset({17})  # USER_BUSY (SIP 486, 600)
NO_ANSWER_CAUSES = frozenset({18, 19})  # NO_USER_RESPONSE, NO_ANSWER (SIP 408, 480)


def result_for_cause(cause: object) -> CallbackResult:
    """How an unanswered customer channel ended, from its Q.850 hangup cause."""
    if isinstance(cause, int) and cause in BUSY_CAUSES:
        return CallbackResult.BUSY
    if isinstance(cause, int) and cause in NO_ANSWER_CAUSES:
        return CallbackResult.NO_ANSWER
    return CallbackResult.FAILED


class CallbackStore(Protocol):
    """What the dialer needs from the callback requests table (CallbackRepository)."""

    async def due(
        self, now: datetime, *, lease: float, limit: int = 500, takeovers: bool = True
    ) -> list[CallbackRequest]: ...

    async def claim(
        self,
        request_id: uuid.UUID,
        controller: str,
        now: datetime,
        *,
        lease: float,
        takeovers: bool = True,
    ) -> CallbackRequest | None: ...

    async def renew(self, request_id: uuid.UUID, controller: str, now: datetime) -> bool: ...

    async def release(self, request_id: uuid.UUID, controller: str) -> None: ...

    async def start_attempt(
        self,
        request_id: uuid.UUID,
        controller: str,
        now: datetime,
        *,
        agent_login: str | None,
        agent_id: uuid.UUID | None,
    ) -> int: ...

    async def attempt_answered(
        self, request_id: uuid.UUID, attempt_no: int, at: datetime
    ) -> None: ...

    async def end_attempt(
        self,
        request_id: uuid.UUID,
        attempt_no: int,
        result: CallbackResult,
        at: datetime,
        *,
        agent_login: str | None = None,
        agent_id: uuid.UUID | None = None,
    ) -> None: ...

    async def retry_later(
        self,
        request_id: uuid.UUID,
        controller: str,
        now: datetime,
        next_at: datetime,
        *,
        agent_id: uuid.UUID | None,
    ) -> bool: ...

    async def finish(
        self,
        request_id: uuid.UUID,
        controller: str,
        outcome: CallbackOutcome,
        now: datetime,
        *,
        agent_id: uuid.UUID | None,
        counts_attempt: bool = True,
        served: tuple[datetime, datetime] | None = None,
    ) -> bool: ...


class Definitions(Protocol):
    def get(self, tenant: str) -> TenantFlows | None: ...


@dataclass(frozen=True)
class DialerConfig:
    controller_id: str  # names this controller's leases and attempts
    app: str  # the Stasis application originated channels enter
    trunk: str  # host:port customers are dialled through (PJSIP endpoint `customers`)
    poll_interval: float = 2.0  # seconds between looks at the table
    lease: float = 60.0  # seconds a claim lasts unless renewed (renewed every lease / 3)
    db_retries: int = 6  # tries to start an attempt (backoff db_backoff, doubling); outcomes
    # that cannot be written go to the outcome spool instead
    db_backoff: float = 0.5  # seconds before the second try
    retry_delay: float | None = None  # replaces the queues' retry_delay when set
    # Seconds Postgres must have answered this controller before it takes over a request
    # whose lease another controller let expire: after an outage that controller first
    # writes the outcomes it spooled (within a poll), so a served customer is not redialled.
    takeover_grace: float = 15.0


@dataclass
class _Job:
    request: CallbackRequest
    ticket: Ticket
    dialing: bool = False
    task: asyncio.Task[None] | None = field(default=None, repr=False)


class CallbackDialer:
    def __init__(
        self,
        store: CallbackStore,
        coordinator: QueueCoordinator,
        definitions: Definitions,
        rest: AriRest,
        adopt: Callable[[str], Call],
        release: Callable[[Call], None],
        prompts: PromptRenderer,
        agents: AgentDirectory,
        bridger: Bridger,
        clock: Clock,
        config: DialerConfig,
        *,
        restrictions: Restrictions,
        notice: NoticeFlow,
        outcomes: OutcomeSpool,
    ) -> None:
        self._store = store
        self._coord = coordinator
        self._defs = definitions
        self._originator = Originator(rest, adopt, release, config.app)
        self._prompts = prompts
        self._agents = agents
        self._bridger = bridger
        self._clock = clock
        self._cfg = config
        self._restrictions = restrictions
        self._notice = notice
        self._outcomes = outcomes
        self._jobs: dict[uuid.UUID, _Job] = {}
        self._wake = asyncio.Event()
        self._unknown: set[tuple[str, str]] = set()
        self._gate = TakeoverGate(config.takeover_grace)

    def _db_answered(self) -> None:
        self._gate.answered()

    def _db_failed(self) -> None:
        self._gate.failed()

    def _may_take_over(self) -> bool:
        return self._gate.open()

    @property
    def me(self) -> str:
        return self._cfg.controller_id

    def notify(self) -> None:
        """Look at the table soon (a request was just taken)."""
        self._wake.set()

    async def run(self) -> None:
        """Polls for due requests until cancelled; cancelling leaves leases to expire. Each
        poll first writes what the outcome spool holds and claims nothing until it is empty
        (at start-up too, so a restart after an outage never redials a served customer)."""
        try:
            self._outcomes.open()
            while True:
                try:
                    if await self._outcomes.replay(self._write):
                        await self.sync()
                    else:
                        self._db_failed()
                        log.warning(
                            "callback dialer: outcomes wait for Postgres in %s; claiming nothing",
                            self._outcomes.directory,
                        )
                except StorageError as exc:
                    self._db_failed()
                    log.warning("callback dialer: cannot read requests (%s); retrying", exc)
                except Exception:
                    # A bug, not a condition: said with its traceback, and polling goes on
                    # (a dead dialer would silently stop every callback).
                    log.exception("callback dialer: poll failed unexpectedly; polling on")
                self._wake.clear()
                # asyncio.timeout, not wait_for: on Python 3.11 wait_for swallows a
                # cancellation that meets a notify(), and the dialer would never stop.
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(self._cfg.poll_interval):
                        await self._wake.wait()
        finally:
            jobs = [j.task for j in self._jobs.values() if j.task is not None]
            for task in jobs:
                task.cancel()
            for task in jobs:
                with contextlib.suppress(BaseException):
                    await task
            await self._outcomes.close()

    async def sync(self) -> None:
        """Due requests join their queues at their place; entries no longer due leave."""
        now = self._clock()
        due = await self._store.due(now, lease=self._cfg.lease, takeovers=self._may_take_over())
        self._db_answered()
        due_ids = {r.id for r in due}
        for rid, job in list(self._jobs.items()):
            if rid not in due_ids and not job.dialing and job.task is not None:
                log.info("[cb %s] no longer due here (claimed elsewhere or closed)", rid)
                job.task.cancel()
        for request in due:
            if request.id in self._jobs or self._outcomes.holds(request.id):
                continue
            found = self._queue_of(request)
            if found is None:
                continue
            flows, queue = found
            if not is_open(dial_hours(queue.callback, flows.hours), now):
                continue
            try:
                ticket = await self._coord.enter(
                    f"cb-{request.id}",
                    f"{request.tenant}/{request.queue}",
                    kind="callback",
                    since=request.place,
                )
            except QueueError as exc:
                log.warning("[cb %s] cannot queue: %s", request.id, exc)
                continue
            job = _Job(request, ticket)
            self._jobs[request.id] = job
            job.task = asyncio.create_task(self._serve(job, flows, queue), name=f"cb-{request.id}")
            job.task.add_done_callback(partial(_report_failure, request.id))
            log.info(
                "[cb %s] queued in %s/%s at its place %s (position %s)",
                request.id,
                request.tenant,
                request.queue,
                request.place.isoformat(),
                ticket.result.position,
            )

    def _queue_of(self, request: CallbackRequest) -> tuple[TenantFlows, Queue] | None:
        flows = self._defs.get(request.tenant)
        queue = flows.queues.get(request.queue) if flows is not None else None
        if flows is None or queue is None:
            key = (request.tenant, request.queue)
            if key not in self._unknown:
                self._unknown.add(key)
                log.warning(
                    "[cb %s] tenant %s has no queue %r: request left for an agent",
                    request.id,
                    request.tenant,
                    request.queue,
                )
            return None
        return flows, queue

    # -- one request -------------------------------------------------------------------------

    async def _serve(self, job: _Job, flows: TenantFlows, queue: Queue) -> None:
        rid = job.request.id
        try:
            while True:
                event = await job.ticket.next_event()
                if isinstance(event, Offered):
                    job.dialing = True
                    try:
                        if await self._attempt(job, flows, queue, event.offer):
                            return
                    finally:
                        job.dialing = False
                elif isinstance(event, Answered | Overflow):
                    return
        except TicketClosed:
            pass
        except (AriError, CallHungUp) as exc:  # ARI went away, or a leg at an unexpected point
            log.warning(
                "[cb %s] dial broken off (%s); the lease expires and it is retried", rid, exc
            )
        finally:
            if not job.ticket.done:
                job.ticket.leave(QueueOutcome.CANCELLED)
            if self._jobs.get(rid) is job:
                del self._jobs[rid]

    async def _attempt(self, job: _Job, flows: TenantFlows, queue: Queue, offer: Offer) -> bool:
        """One offer of the request to agents. True when the entry left the queue."""
        rid = job.request.id
        if not self._outcomes.empty:  # an outcome waits for Postgres: perhaps this one's
            log.info("[cb %s] not claimed while outcomes wait in the spool", rid)
            job.ticket.leave(QueueOutcome.CANCELLED)
            return True
        try:
            claimed = await self._store.claim(
                rid, self.me, self._clock(), lease=self._cfg.lease, takeovers=self._may_take_over()
            )
        except StorageError as exc:
            self._db_failed()
            log.warning("[cb %s] cannot claim (%s); leaving it for now", rid, exc)
            claimed = None
        if claimed is None:
            log.info("[cb %s] not claimable (another controller has it or it is done)", rid)
            job.ticket.leave(QueueOutcome.CANCELLED)
            return True
        log.info("[cb %s] claimed by %s for %s", rid, self.me, ", ".join(offer.agents))
        try:
            restricted = await self._restrictions.is_restricted(
                claimed.tenant_id, number=claimed.number
            )
        except StorageError as exc:
            log.warning("[cb %s] cannot check restrictions (%s); not dialling now", rid, exc)
            await self._record(PendingWrite("release", rid, self.me))
            job.ticket.leave(QueueOutcome.CANCELLED)
            return True
        if restricted:
            log.info("[cb %s] processing restricted: never dialled", rid)
            await self._record(
                PendingWrite(
                    "finish",
                    rid,
                    self.me,
                    self._clock(),
                    outcome=CallbackOutcome.RESTRICTED.value,
                    counts_attempt=False,
                )
            )
            job.ticket.leave(QueueOutcome.CANCELLED)
            return True
        refused = self._number_refused(claimed, flows)
        if refused is not None:
            log.warning("[cb %s] number not callable (%s): never dialled", rid, refused)
            await self._persist(
                rid,
                "finish",
                lambda: self._store.finish(
                    rid,
                    self.me,
                    CallbackOutcome.CANCELLED,
                    self._clock(),
                    agent_id=None,
                    counts_attempt=False,
                ),
            )
            job.ticket.leave(QueueOutcome.CANCELLED)
            return True
        renewing = asyncio.create_task(self._renew(rid))
        try:
            return await self._dial(job, claimed, flows, queue, offer)
        finally:
            renewing.cancel()
            with contextlib.suppress(BaseException):
                await renewing

    def _number_refused(self, request: CallbackRequest, flows: TenantFlows) -> str | None:
        """Why the tenant's allow-list (``[callbacks]``, as defined now: the definitions may
        have changed since the request was taken) refuses the request's number; None: ok."""
        current = self._defs.get(request.tenant) or flows
        try:
            callable_number(request.number, current.callbacks)
        except InvalidNumber as exc:
            return exc.reason
        return None

    async def _renew(self, rid: uuid.UUID) -> None:
        while True:
            await asyncio.sleep(self._cfg.lease / 3)
            try:
                if not await self._store.renew(rid, self.me, self._clock()):
                    log.warning("[cb %s] lease lost while dialling", rid)
            except StorageError as exc:
                log.warning("[cb %s] cannot renew the lease (%s)", rid, exc)

    async def _dial(
        self,
        job: _Job,
        request: CallbackRequest,
        flows: TenantFlows,
        queue: Queue,
        offer: Offer,
    ) -> bool:
        rid = request.id
        legs = await self._ring_agents(request, offer)
        answered = await first_answer(legs, offer.ring_timeout) if legs else None
        for agent in offer.agents:
            if agent != answered:
                leg = legs.get(agent)
                if leg is not None:
                    await leg.hangup()
                with contextlib.suppress(QueueError):
                    job.ticket.timed_out(agent)
        if answered is None:
            if not legs:  # nobody could be rung at all: do not spin on the same agent
                await asyncio.sleep(offer.ring_timeout)
            log.info("[cb %s] no agent answered (%s)", rid, ", ".join(offer.agents))
            await self._agent_missed(rid, offer)
            return False
        agent_leg = legs[answered]
        try:
            await job.ticket.take(answered)
        except OfferGone:
            await agent_leg.hangup()
            await self._record(PendingWrite("release", rid, self.me))
            return True
        agent_id = await self._agent_id(rid, answered)
        started = self._clock()
        attempt_no = await self._persist(
            rid,
            "start attempt",
            lambda: self._store.start_attempt(
                rid, self.me, started, agent_login=answered, agent_id=agent_id
            ),
        )
        log.info("[cb %s] agent %s answered; attempt %s", rid, answered, attempt_no)
        result = CallbackResult.FAILED
        answered_at: datetime | None = None
        try:
            result, answered_at = await self._call_customer(
                request, flows, queue, agent_leg, attempt_no
            )
        finally:
            ended = self._clock()
            self._coord.call_ended(answered, (ended - started).total_seconds())
            if attempt_no is not None:
                await self._record(
                    PendingWrite(
                        "end_attempt", rid, self.me, ended, attempt_no, result=result.value
                    )
                )
        await self._conclude(request, flows, queue, result, answered_at, ended, agent_id)
        return True

    async def _ring_agents(self, request: CallbackRequest, offer: Offer) -> dict[str, Call]:
        legs, _unreachable = await self._originator.ring_agents(
            offer.agents,
            offer.ring_timeout,
            leg_id=lambda agent: f"cb-{request.id.hex[:12]}-{agent}-{uuid.uuid4().hex[:8]}",
            app_args=f"{AGENT_LEG},{request.tenant}",
            caller_id=f"Callback <{request.number}>",
            tag=f"cb {request.id}",
        )
        return legs

    async def _call_customer(
        self,
        request: CallbackRequest,
        flows: TenantFlows,
        queue: Queue,
        agent_leg: Call,
        attempt_no: int | None,
    ) -> tuple[CallbackResult, datetime | None]:
        """The agent hears who is called, then the customer rings. Returns the result and
        when the customer answered (the conversation is over when this returns)."""
        rid = request.id
        lang = flows.language
        try:
            digits = parse_number(request.number).national
        except InvalidNumber:
            digits = "".join(c for c in request.number if c in string.digits)
        try:
            # Said digit by digit: the customer's number is never cached as a spoken text.
            await agent_leg.play(
                await self._prompts.sentence(Text.DIALER_CALLING, lang, digits=digits)
            )
        except CallHungUp:
            log.info("[cb %s] agent hung up before the customer was dialled", rid)
            return CallbackResult.AGENT_NO_ANSWER, None
        ring = queue.callback.ring_timeout
        cust_id = f"cb-{rid.hex[:12]}-c-{uuid.uuid4().hex[:8]}"
        try:
            customer = await self._originator.dial(
                cust_id,
                f"PJSIP/customers/sip:{request.number}@{self._cfg.trunk}",
                f"{CUSTOMER_LEG},{request.tenant}",
                ring_seconds=int(ring) + 30,  # our own timer below decides "no answer"
            )
        except AriError as exc:
            log.warning("[cb %s] cannot dial the customer: %s", rid, exc)
            await self._tell_agent(agent_leg, lang, CallbackResult.FAILED)
            return CallbackResult.FAILED, None
        log.info("[cb %s] dialling the customer (%s)", rid, cust_id)
        result = await self._customer_answer(customer, agent_leg, ring)
        if result is not CallbackResult.ANSWERED:
            log.info("[cb %s] customer: %s", rid, result)
            await customer.hangup()
            if result is not CallbackResult.AGENT_NO_ANSWER:
                await self._tell_agent(agent_leg, lang, result)
            return result, None
        answered_at = self._clock()
        log.info("[cb %s] customer answered; bridging with the agent", rid)
        # The answer time is stored alongside the conversation, never in its way: with the
        # database down the two are bridged at once and the write is retried meanwhile.
        stamping = (
            asyncio.create_task(
                self._record(PendingWrite("answered", rid, self.me, answered_at, attempt_no)),
                name=f"cb-{rid}-answered",
            )
            if attempt_no is not None
            else None
        )
        try:
            await self._converse(request, flows, queue, agent_leg, customer)
        except BaseException:
            if stamping is not None:
                stamping.cancel()
            raise
        if stamping is not None:
            await stamping  # stored before the attempt's end is
        return CallbackResult.ANSWERED, answered_at

    async def _converse(
        self,
        request: CallbackRequest,
        flows: TenantFlows,
        queue: Queue,
        agent_leg: Call,
        customer: Call,
    ) -> None:
        """The notice (recorded queues), then agent and customer bridged until one hangs up."""
        try:
            policy = await self._recording_policy(request, flows, queue, customer)
        except CallHungUp:
            log.info("[cb %s] customer hung up during the recording notice", request.id)
            await agent_leg.hangup()
            return
        await self._bridger.bridge(
            agent_leg,
            customer,
            case_id=request.case_id,
            tenant_id=request.tenant_id,
            policy=policy,
        )

    async def _recording_policy(
        self, request: CallbackRequest, flows: TenantFlows, queue: Queue, customer: Call
    ) -> RecordingPolicy:
        """A recorded queue records its callbacks too: the customer first hears the notice
        (raises CallHungUp if they hang up during it; then nothing is recorded)."""
        if not queue.record:
            return NO_RECORDING
        await customer.play(await self._notice.media_for(flows))
        played = self._clock()
        log.info("[cb %s] recording notice played to the customer", request.id)
        return RecordingPolicy(record=True, notice_played_at=played)

    async def _customer_answer(
        self, customer: Call, agent_leg: Call, ring: float
    ) -> CallbackResult:
        """Waits for the customer's answer while watching the agent."""

        async def customer_side() -> CallbackResult:
            try:
                event = await customer.wait_event(
                    {"StasisStart", "ChannelDestroyed"}, timeout=ring, raise_on_hangup=False
                )
            except TimeoutError:
                return CallbackResult.NO_ANSWER
            if event.get("type") == "StasisStart":
                return CallbackResult.ANSWERED
            return result_for_cause(event.get("cause"))

        async def agent_side() -> CallbackResult:
            await agent_leg.wait_event(set(), timeout=None, raise_on_hangup=True)
            return CallbackResult.AGENT_NO_ANSWER  # pragma: no cover - raises instead

        tasks = [asyncio.create_task(customer_side()), asyncio.create_task(agent_side())]
        try:
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            first = done.pop()
            if first is tasks[1]:
                return CallbackResult.AGENT_NO_ANSWER  # the agent hung up meanwhile
            return first.result()
        finally:
            for task in tasks:
                task.cancel()
                with contextlib.suppress(BaseException):
                    await task

    async def _tell_agent(self, agent_leg: Call, lang: str, result: CallbackResult) -> None:
        told = text(RESULT_TEXT.get(result, Text.DIALER_FAILED), lang)
        with contextlib.suppress(CallHungUp, AriError):
            await agent_leg.play(await self._prompts.text(told, lang))
        await agent_leg.hangup()

    async def _conclude(
        self,
        request: CallbackRequest,
        flows: TenantFlows,
        queue: Queue,
        result: CallbackResult,
        answered_at: datetime | None,
        ended: datetime,
        agent_id: uuid.UUID | None,
    ) -> None:
        rid = request.id
        if result is CallbackResult.ANSWERED and answered_at is not None:
            await self._record(
                PendingWrite(
                    "finish",
                    rid,
                    self.me,
                    ended,
                    outcome=CallbackOutcome.ANSWERED.value,
                    agent_id=agent_id,
                    served=(answered_at, ended),
                )
            )
            log.info("[cb %s] done: answered", rid)
            return
        if result is CallbackResult.AGENT_NO_ANSWER:
            await self._record(PendingWrite("release", rid, self.me))
            return
        done = request.attempts + 1
        hours = dial_hours(queue.callback, flows.hours)
        policy = queue.callback
        if self._cfg.retry_delay is not None:
            policy = replace(policy, retry_delay=self._cfg.retry_delay)
        next_at = next_attempt_at(policy, done, ended, hours)
        if next_at is None:
            await self._record(
                PendingWrite(
                    "finish",
                    rid,
                    self.me,
                    ended,
                    outcome=CallbackOutcome.GAVE_UP.value,
                    agent_id=agent_id,
                )
            )
            log.info("[cb %s] gave up after %d attempt(s) (last: %s)", rid, done, result)
            return
        await self._record(
            PendingWrite("retry", rid, self.me, ended, next_at=next_at, agent_id=agent_id)
        )
        log.info("[cb %s] attempt %d: %s; next at %s", rid, done, result, next_at.isoformat())
        self.notify()

    async def _agent_missed(self, rid: uuid.UUID, offer: Offer) -> None:
        now = self._clock()
        agent = offer.agents[0] if len(offer.agents) == 1 else None
        agent_id = await self._agent_id(rid, agent) if agent is not None else None

        async def record() -> None:
            n = await self._store.start_attempt(
                rid, self.me, offer.made_at, agent_login=agent, agent_id=agent_id
            )
            await self._store.end_attempt(rid, n, CallbackResult.AGENT_NO_ANSWER, now)
            await self._store.release(rid, self.me)

        await self._persist(rid, "agent no answer", record)

    async def _agent_id(self, rid: uuid.UUID, login: str) -> uuid.UUID | None:
        try:
            return await self._agents.user_id(login)
        except StorageError as exc:
            log.warning("[cb %s] agent %s: cannot look up the user (%s)", rid, login, exc)
            return None

    async def _record(self, w: PendingWrite) -> None:
        """An outcome write: straight to the store, or to the outcome spool when Postgres is
        unavailable or earlier writes wait there (they are written in order)."""
        rid = w.request_id
        if self._outcomes.empty:
            try:
                await self._write(w)
                return
            except StorageUnavailable as exc:
                self._db_failed()
                log.warning("[cb %s] %s failed (%s); spooling it", rid, w.op, exc)
            except StorageError as exc:  # refused: trying again cannot help
                log.error("[cb %s] %s refused by the database: %s", rid, w.op, exc)
                return
        try:
            await self._outcomes.add(w)
        except SpoolError as exc:
            log.critical(
                "[cb %s] %s could not be stored nor spooled (%s): the request will be retried",
                rid,
                w.op,
                exc,
            )
            return
        self.notify()

    async def _write(self, w: PendingWrite) -> None:
        """Makes one (possibly spooled) write; raises StorageError as the store does
        (ValueError for a write missing what its op needs)."""
        rid, me, at = w.request_id, w.controller, w.at
        if w.op == "release":
            await self._store.release(rid, me)
        elif w.op == "answered" and w.attempt_no is not None and at is not None:
            await self._store.attempt_answered(rid, w.attempt_no, at)
        elif w.op == "end_attempt" and w.attempt_no is not None and at and w.result:
            result = CallbackResult(w.result)
            await self._store.end_attempt(rid, w.attempt_no, result, at)
        elif w.op == "retry" and at is not None and w.next_at is not None:
            if not await self._store.retry_later(rid, me, at, w.next_at, agent_id=w.agent_id):
                log.warning("[cb %s] retry not stored: the lease was lost", rid)
        elif w.op == "finish" and at is not None and w.outcome is not None:
            outcome = CallbackOutcome(w.outcome)
            done = await self._store.finish(
                rid,
                me,
                outcome,
                at,
                agent_id=w.agent_id,
                counts_attempt=w.counts_attempt,
                served=w.served,
            )
            if not done:
                log.warning("[cb %s] %s not stored: the lease was lost", rid, outcome)
        else:
            raise ValueError(f"malformed outcome write {w!r}")

    async def _persist(self, rid: uuid.UUID, what: str, op: Callable[[], Awaitable[Any]]) -> Any:
        """Runs a store operation, retrying while the database is unavailable; None if it
        never succeeded or the database refused it (the lease then expires and the request
        is dialled again)."""
        delay = self._cfg.db_backoff
        for attempt in range(1, self._cfg.db_retries + 1):
            try:
                return await op()
            except StorageUnavailable as exc:
                log.warning("[cb %s] %s failed (%s), try %d", rid, what, exc, attempt)
                await asyncio.sleep(delay)
                delay *= 2
            except StorageError as exc:  # refused: trying again cannot help
                log.error("[cb %s] %s refused by the database: %s", rid, what, exc)
                return None
        log.error("[cb %s] %s could not be stored; the request will be retried", rid, what)
        return None


def _report_failure(rid: uuid.UUID, task: asyncio.Task[None]) -> None:
    """A request's task ended with an error nobody expected: say so with the request id
    (its lease expires and it is dialled again)."""
    if not task.cancelled() and (exc := task.exception()) is not None:
        log.error(
            "[cb %s] dialer failed unexpectedly; the lease expires and it is retried",
            rid,
            exc_info=exc,
        )
