"""Queue flow: music on hold, position and estimated-wait announcements, agents rung by the
queue engine's offers, caller and agent bridged, case timings recorded."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from ivr.ari.call import Call
from ivr.ari.errors import AriError, CallHungUp
from ivr.callcenter.coordinator import (
    Answered,
    Offered,
    OfferWithdrawn,
    Overflow,
    PositionChanged,
    QueueCoordinator,
    QueueEvent,
    Status,
    Ticket,
)
from ivr.callcenter.engine import Departure, Offer, OverflowReason
from ivr.callcenter.engine import Outcome as QueueOutcome
from ivr.clock import Clock
from ivr.flowdefs.model import Queue, Target
from ivr.flows.context import CaseContext
from ivr.flows.notice import NoticeFlow
from ivr.flows.offers import OfferRound
from ivr.flows.restriction import Restrictions, number_restricted
from ivr.prompts import PromptRenderer
from ivr.telephony.bridging import NO_RECORDING, Bridger, RecordingPolicy
from ivr.telephony.ringing import Originator, first_answer
from ivr.texts import Text, text
from storage.events import (
    CaseQueued,
    EventSink,
    OfferResult,
    Outcome,
    QueueExit,
    QueueLeft,
    ServiceStarted,
)

log = logging.getLogger(__name__)


async def _hung_up(call: Call) -> None:
    """Returns (by raising CallHungUp) only when the caller is gone."""
    await call.wait_event(set(), timeout=None)


async def _next_or_gone(ticket: Ticket, gone: asyncio.Task[None], wait: float) -> QueueEvent | None:
    """The ticket's next event (None: the announce interval passed); raises CallHungUp as
    soon as the caller hangs up."""
    nxt = asyncio.create_task(ticket.next_event(timeout=wait))
    try:
        await asyncio.wait({nxt, gone}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        if not nxt.done():
            nxt.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await nxt
    if gone.done():
        gone.result()
    return nxt.result()


async def _cancel(task: asyncio.Task[None]) -> None:
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError, CallHungUp, CallbackChosen):
        await task


def queue_exit(departure: Departure) -> QueueExit:
    """The case record's exit for how an entry left its queue."""
    if departure.outcome is QueueOutcome.ANSWERED:
        return QueueExit.SERVED
    if departure.outcome is QueueOutcome.CANCELLED:
        return QueueExit.CALLBACK  # the only way a live caller's entry is cancelled
    if departure.outcome is QueueOutcome.OVERFLOW:
        if departure.reason is OverflowReason.MAX_WAIT:
            return QueueExit.TIMEOUT
        return QueueExit.OVERFLOWED
    return QueueExit.ABANDONED


class CallbackChosen(Exception):
    """The waiting caller pressed the queue's callback key."""


@dataclass(frozen=True)
class _ToCallback:
    """The caller left the queue for callback capture, keeping ``place``."""

    place: datetime


class CallbackCapture(Protocol):
    async def run(
        self, call: Call, ctx: CaseContext, queue: Queue, *, place: datetime | None = None
    ) -> Target | None: ...


class AgentDirectory(Protocol):
    async def user_id(self, login: str) -> uuid.UUID | None: ...


Adopt = Callable[[str], Call]


class QueueFlow:
    def __init__(
        self,
        coordinator: QueueCoordinator,
        prompts: PromptRenderer,
        recorder: EventSink,
        agents: AgentDirectory,
        adopt: Adopt,
        release: Callable[[Call], None],
        clock: Clock,
        *,
        bridger: Bridger,
        notice: NoticeFlow,
        restrictions: Restrictions,
        callback: CallbackCapture,
        app: str,
    ) -> None:
        self._app = app  # the Stasis app agent legs are dialled into (LINJA_ARI_APP)
        self._callback = callback
        self._bridger = bridger
        self._notice = notice
        self._restrictions = restrictions
        self._coord = coordinator
        self._prompts = prompts
        self._recorder = recorder
        self._agents = agents
        self._adopt = adopt
        self._release = release
        self._clock = clock

    async def run(self, call: Call, ctx: CaseContext, queue: Queue) -> Target | None:
        """Serve the caller from this queue. Returns an overflow target, or None when the
        call has been handled (answered) or must simply end."""
        cid = call.channel_id
        key = f"{ctx.flows.tenant}/{queue.name}"
        if ctx.resumed_stay == queue.name:
            ctx.resumed_stay = None  # an adopted case: its stay in this queue goes on
        else:
            self._recorder.emit(CaseQueued(ctx.case_id, queue.name, self._clock()))
        ticket: Ticket | None = None
        try:
            async with self._coord.waiting(cid, key) as ticket:
                target = await self._wait(call, ctx, queue, ticket)
        finally:
            if ticket is not None:
                self._record_exit(call, ctx, queue, ticket)
        if isinstance(target, _ToCallback):
            return await self._callback.run(call, ctx, queue, place=target.place)
        return target

    def _record_exit(self, call: Call, ctx: CaseContext, queue: Queue, ticket: Ticket) -> None:
        """The queue stay ends at the moment the entry left (not after what the caller hears
        next): answered (ServiceStarted closed it), abandoned, overflowed, timeout, callback."""
        dep = ticket.departure
        if dep is None or dep.outcome is QueueOutcome.ANSWERED:
            return
        exit_ = queue_exit(dep)
        log.info("[%s] left queue %s: %s after %.1fs", call.channel_id, queue.name, exit_, dep.wait)
        self._recorder.emit(QueueLeft(ctx.case_id, dep.at, exit_))

    async def _wait(
        self, call: Call, ctx: CaseContext, queue: Queue, ticket: Ticket
    ) -> Target | _ToCallback | None:
        """Holds the caller in the queue until the entry leaves it."""
        cid = call.channel_id
        key = ticket.queue
        if ticket.done:
            return self._overflowed(call, ctx, queue, ticket)
        record = await self._will_record(call, ctx, queue)
        await self._moh(call, queue, on=True)
        loop = asyncio.get_running_loop()
        announcing: asyncio.Task[None] | None = None
        next_announce = loop.time()  # the first announcement at once
        # notices a hang-up at once (and the callback key, when the queue offers it)
        gone = asyncio.create_task(self._hung_up_or_key(call, queue))
        try:
            while True:
                event = await _next_or_gone(ticket, gone, max(0.0, next_announce - loop.time()))
                if announcing is not None and announcing.done():
                    announcing.result()  # a hang-up during it ends the flow here
                    announcing = None
                if event is None:
                    status = ticket.status()
                    if status is not None and announcing is None:
                        announcing = asyncio.create_task(self._announce(call, ctx, status, queue))
                    next_announce = loop.time() + queue.announce_interval
                elif isinstance(event, PositionChanged):
                    log.info("[%s] queue %s position now %d", cid, key, event.position)
                elif isinstance(event, Offered):
                    # An agent is free: stop talking, ring at once.
                    if announcing is not None:
                        await _cancel(announcing)
                        announcing = None
                        await self._moh(call, queue, on=True)
                    if await self._ring_and_bridge(call, ctx, queue, ticket, event.offer, record):
                        return None
                elif isinstance(event, OfferWithdrawn):
                    log.info("[%s] ring withdrawn from %s", cid, ",".join(event.agents))
                elif isinstance(event, Overflow):
                    return self._overflowed(call, ctx, queue, ticket)
                elif isinstance(event, Answered):
                    return None
        except CallbackChosen:
            if announcing is not None:
                await _cancel(announcing)
                announcing = None
            return await self._leave_for_callback(call, queue, ticket)
        finally:
            await _cancel(gone)
            if announcing is not None:
                await _cancel(announcing)

    async def _hung_up_or_key(self, call: Call, queue: Queue) -> None:
        """Returns (by raising CallHungUp) when the caller is gone; raises CallbackChosen
        when they press the queue's callback key (if the queue offers callbacks)."""
        if not queue.callback.offer_in_queue:
            await _hung_up(call)
            return
        call.clear_digits()
        while True:
            digit = await call.read_digits(1, first_timeout=3600.0, inter_timeout=1.0)
            if digit == queue.callback.key:
                raise CallbackChosen(call.channel_id)

    async def _leave_for_callback(self, call: Call, queue: Queue, ticket: Ticket) -> _ToCallback:
        """The caller leaves the line (now: the stay ends at the key press) for callback
        capture; the request keeps their place (their arrival time in the queue)."""
        place = ticket.result.entry.enqueued_at
        log.info(
            "[%s] callback chosen in queue %s; place %s kept",
            call.channel_id,
            queue.name,
            place.isoformat(),
        )
        ticket.leave(QueueOutcome.CANCELLED)
        await self._moh(call, queue, on=False)
        return _ToCallback(place)

    def _overflowed(
        self, call: Call, ctx: CaseContext, queue: Queue, ticket: Ticket
    ) -> Target | None:
        dep = ticket.departure
        reason = dep.reason if dep is not None else None
        log.info("[%s] queue %s overflow (%s)", call.channel_id, queue.name, reason)
        ctx.outcome = Outcome.OVERFLOWED
        target = dep.target if dep is not None and dep.target is not None else queue.overflow
        return target or Target("hangup", "goodbye")

    async def _moh(self, call: Call, queue: Queue, *, on: bool) -> None:
        try:
            if on:
                await call.start_moh(queue.moh_class)
            else:
                await call.stop_moh()
        except AriError as exc:
            if call.hung_up:
                raise CallHungUp(call.channel_id) from None
            log.warning("[%s] music on hold %s failed: %s", call.channel_id, on, exc)

    async def _announce(self, call: Call, ctx: CaseContext, status: Status, queue: Queue) -> None:
        """Position and estimated wait, spoken over a pause in the music on hold."""
        lang = ctx.flows.language
        minutes = max(1, round((status.estimated_wait or 0) / 60))
        spoken = text(Text.QUEUE_POSITION, lang, pos=status.position, minutes=minutes)
        if queue.callback.offer_in_queue:
            spoken += " " + text(Text.QUEUE_CALLBACK_OFFER, lang, key=queue.callback.key)
        media = await self._prompts.text(spoken, lang)
        log.info(
            "[%s] announcing position %d, about %d min", call.channel_id, status.position, minutes
        )
        await self._moh(call, queue, on=False)
        await call.play(media)
        await self._moh(call, queue, on=True)

    async def _will_record(self, call: Call, ctx: CaseContext, queue: Queue) -> bool:
        """Whether the conversation will be recorded; plays the notice first if so. Never
        records a caller under a processing restriction (or when that cannot be checked)."""
        if not (queue.record or ctx.record_call):
            return False
        cid = call.channel_id
        if await number_restricted(
            self._restrictions, ctx.tenant_id, call.caller_number, cid=cid, when_unknown=True
        ):
            log.info("[%s] caller's processing is restricted: not recording", cid)
            return False
        await self._notice.play(call, ctx)
        return True

    async def _policy(self, ctx: CaseContext, record: bool) -> RecordingPolicy:
        if not record or ctx.notice_played_at is None:
            return NO_RECORDING
        agent_notice = None
        if ctx.flows.recording.replay_on_transfer:
            agent_notice = await self._notice.media(ctx)
        return RecordingPolicy(True, agent_notice, ctx.notice_played_at)

    async def _ring_and_bridge(
        self,
        call: Call,
        ctx: CaseContext,
        queue: Queue,
        ticket: Ticket,
        offer: Offer,
        record: bool,
    ) -> bool:
        """Ring the offered agents; on an answer bridge and serve. True when served. Each
        agent rung is a step of the case's timeline (who, from when to when, how it ended)."""
        cid = call.channel_id
        ring = OfferRound(ctx.case_id, queue.name, offer.agents, offer.ring_timeout, self._clock)
        rest = OfferResult.CALLER_LEFT  # what an agent's ring is if the round ends abruptly
        try:
            answered = await self._ring(call, ticket, offer, ring)
            rest = OfferResult.MISSED if answered is not None else OfferResult.TIMEOUT
        finally:
            await ring.emit(self._recorder, rest, self._agents.user_id, tag=cid)
        if answered is None:
            return False
        agent_leg, answered_agent = answered
        departure = await ticket.take(answered_agent)
        log.info("[%s] agent %s answered after %.1fs in queue", cid, answered_agent, departure.wait)
        self._recorder.emit(
            ServiceStarted(ctx.case_id, self._clock(), await self._agents.user_id(answered_agent))
        )
        ctx.outcome = Outcome.ANSWERED
        started = self._clock()
        try:
            await self._bridger.bridge(
                call,
                agent_leg,
                case_id=ctx.case_id,
                tenant_id=ctx.tenant_id,
                policy=await self._policy(ctx, record),
            )
        finally:
            talk = (self._clock() - started).total_seconds()
            self._coord.call_ended(answered_agent, talk)
            log.info("[%s] call with agent %s ended after %.1fs", cid, answered_agent, talk)
        return True

    async def _ring(
        self, call: Call, ticket: Ticket, offer: Offer, ring: OfferRound
    ) -> tuple[Call, str] | None:
        """Ring the offered agents; the answering agent's leg and login, None if none did
        (every other leg hung up)."""
        cid = call.channel_id
        legs, unreachable = await Originator(
            call.rest, self._adopt, self._release, self._app
        ).ring_agents(
            offer.agents,
            offer.ring_timeout,
            leg_id=lambda agent: f"{cid}-{agent}-{uuid.uuid4().hex}",
            app_args="agent-leg",
            caller_id=call.caller_number or "anonymous",
            tag=cid,
        )
        for agent in unreachable:
            ring.ended(agent, OfferResult.UNREACHABLE)
        if not legs:
            # Nobody could be rung (e.g. a logged-in agent's phone is not registered): count
            # it as a ring that was not answered, after the ring timeout, not at once, or the
            # same agent would be offered again in a tight loop.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(_hung_up(call), timeout=offer.ring_timeout)
            for agent in unreachable:
                ticket.timed_out(agent)
            return None
        answered = await first_answer(legs, offer.ring_timeout, caller=call, on_end=ring.rang_out)
        if answered is not None:
            ring.ended(answered, OfferResult.ANSWERED)
        for agent in unreachable:
            ticket.timed_out(agent)
        for agent, leg in legs.items():
            if agent != answered:
                await leg.hangup()
                with contextlib.suppress(Exception):
                    ticket.timed_out(agent)
        if answered is None:
            log.info("[%s] no answer from %s", cid, ",".join(legs))
            return None
        return legs[answered], answered
