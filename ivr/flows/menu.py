"""Call-center entry: opening hours, menus read by DTMF (RFC 2833 or SIP INFO, both arrive as
ChannelDtmfReceived), then the chosen target. Opens a case and records its outcome."""

from __future__ import annotations

import logging
import uuid
from typing import Protocol, assert_never

from ivr.ari.call import Call
from ivr.clock import Clock
from ivr.flowdefs import is_open
from ivr.flowdefs.model import CALLBACK_ENTRY, Menu, Target, TenantFlows
from ivr.flows.adoption import CaseAdoption
from ivr.flows.announcement import AnnouncementFlow
from ivr.flows.context import CaseContext
from ivr.flows.notice import NoticeFlow
from ivr.flows.queue import CallbackCapture, QueueFlow
from ivr.flows.voicemail import VoicemailFlow
from ivr.prompts import PromptRenderer
from storage.events import (
    CaseEnded,
    CaseOpened,
    Channel,
    EventSink,
    MenuChosen,
    MenuResult,
    Outcome,
)
from storage.timing import CaseState

log = logging.getLogger(__name__)

MAX_HOPS = 20  # menu-to-menu moves in one call, a guard against loops


def _resumed_at(call: Call, ctx: CaseContext, case: CaseState, start: Target) -> Target:
    """Where an adopted case's caller goes on: the queue they were waiting in (its stay goes
    on), else the start of the call (the menu)."""
    ctx.record_call = call.dialed in ctx.flows.recording.numbers  # the notice was heard
    waiting = next((q for q in case.queue_stays if q.left_at is None), None)
    if waiting is not None and waiting.queue in ctx.flows.queues:
        ctx.resumed_stay = waiting.queue
        log.info("[%s] case %s back in queue %s", call.channel_id, ctx.case_id, waiting.queue)
        return Target("queue", waiting.queue)
    log.info("[%s] case %s back at the start: %s", call.channel_id, ctx.case_id, start)
    return start


class Definitions(Protocol):
    def get(self, tenant: str) -> TenantFlows | None: ...


class TenantIds(Protocol):
    async def tenant_id(self, slug: str) -> uuid.UUID | None: ...


class MenuFlow:
    name = "menu"

    def __init__(
        self,
        definitions: Definitions,
        tenants: TenantIds,
        prompts: PromptRenderer,
        queue: QueueFlow,
        bulletins: AnnouncementFlow,
        recorder: EventSink,
        clock: Clock,
        *,
        notice: NoticeFlow,
        voicemail: VoicemailFlow,
        callback: CallbackCapture,
        adoption: CaseAdoption | None = None,
    ) -> None:
        self._adoption = adoption
        self._callback = callback
        self._notice = notice
        self._voicemail = voicemail
        self._defs = definitions
        self._tenants = tenants
        self._prompts = prompts
        self._queue = queue
        self._bulletins = bulletins
        self._recorder = recorder
        self._clock = clock

    async def run(self, call: Call, tenant: str) -> None:
        cid = call.channel_id
        flows = self._defs.get(tenant)
        tenant_id = await self._tenants.tenant_id(tenant)
        if flows is None or tenant_id is None:
            log.error("[%s] no flow definitions or tenant row for %r; hanging up", cid, tenant)
            await call.answer()
            await call.play("sound:ss-noservice")
            return
        if self._adoption is None:
            ctx = CaseContext(tenant_id, flows)
            resumed = None
        else:  # an adopted call goes on with its case (ivr/flows/adoption.py)
            ctx = CaseContext(tenant_id, flows, case_id=self._adoption.case_id(call))
            resumed = await self._adoption.resume(call, ctx.case_id)
            if resumed is not None and resumed.ended:  # its id is taken: a case of its own
                ctx, resumed = CaseContext(tenant_id, flows), None
        await call.answer()
        if resumed is None:
            self._recorder.emit(
                CaseOpened(
                    ctx.case_id,
                    tenant_id,
                    Channel.PHONE,
                    self._clock(),
                    service_number=call.dialed or None,
                    caller_number=call.caller_number or None,
                )
            )
            log.info("[%s] case %s opened for tenant %s", cid, ctx.case_id, tenant)
        try:
            entry = call.args[2] if len(call.args) > 2 and call.args[2] else flows.entry
            target = Target("menu", entry)
            if entry.startswith(CALLBACK_ENTRY):
                target = Target("callback", entry.removeprefix(CALLBACK_ENTRY))
            if resumed is not None:
                target = _resumed_at(call, ctx, resumed, target)
            elif flows.hours is not None and not is_open(flows.hours, self._clock()):
                target = flows.hours.closed_target
                ctx.outcome = Outcome.CLOSED
            elif call.dialed in flows.recording.numbers:
                await self._notice.play(call, ctx)  # this number records every conversation
                ctx.record_call = True
            await self._follow(call, ctx, target)
        finally:
            outcome = Outcome(ctx.outcome) if ctx.outcome else Outcome.ABANDONED
            self._recorder.emit(CaseEnded(ctx.case_id, outcome, self._clock()))
            log.info("[%s] case %s ended: %s", cid, ctx.case_id, outcome)

    async def _follow(self, call: Call, ctx: CaseContext, target: Target | None) -> None:
        for _ in range(MAX_HOPS):
            if target is None:
                return
            log.info("[%s] -> %s", call.channel_id, target)
            if target.kind == "menu":
                target = await self._menu(call, ctx, ctx.flows.menus[target.name])
            elif target.kind == "queue":
                target = await self._queue.run(call, ctx, ctx.flows.queues[target.name])
            elif target.kind == "hangup":
                await self._play_prompt(call, ctx, target.name)
                await call.hangup()
                return
            elif target.kind == "bulletin":
                ctx.outcome = Outcome.ANSWERED
                await self._bulletins.serve_number(call, target.name)
                return
            elif target.kind == "voicemail":
                await self._voicemail.run(call, ctx, target.name)
                return
            elif target.kind == "callback":
                queue = ctx.flows.queues[target.name]
                target = await self._callback.run(call, ctx, queue)
            elif target.kind == "external":
                ctx.outcome = Outcome.TRANSFERRED
                await call.continue_in_dialplan(
                    context="linja-external", extension=target.name, priority=1
                )
                return
            else:
                assert_never(target.kind)
        log.error("[%s] more than %d menu moves; hanging up", call.channel_id, MAX_HOPS)
        await call.hangup()

    async def _play_prompt(self, call: Call, ctx: CaseContext, name: str) -> None:
        prompt = ctx.flows.prompts.get(name)
        if prompt is not None:
            await call.play(await self._prompts.prompt(prompt, ctx.flows.language, ctx.base_dir))

    async def _menu(self, call: Call, ctx: CaseContext, menu: Menu) -> Target:
        cid = call.channel_id
        prompt = ctx.flows.prompts[menu.prompt]
        media = await self._prompts.prompt(prompt, ctx.flows.language, ctx.base_dir)
        for attempt in range(1, menu.retries + 1):
            digits = await call.prompt_digits(
                media,
                menu.max_digits,
                first_timeout=menu.first_digit_timeout,
                inter_timeout=menu.inter_digit_timeout,
            )
            target = menu.options.get(digits) if digits else None
            if target is not None:
                log.info("[%s] menu %s: %r -> %s", cid, menu.name, digits, target)
                self._chosen(ctx, menu, MenuResult.CHOSEN, digits, str(target))
                return target
            # What was keyed is an option of no menu: never kept (it may be a PIN or a
            # number), only that the attempt was invalid.
            self._chosen(ctx, menu, MenuResult.NO_INPUT if not digits else MenuResult.INVALID)
            which = "no input" if not digits else f"invalid key {digits!r}"
            log.info("[%s] menu %s attempt %d/%d: %s", cid, menu.name, attempt, menu.retries, which)
            retry_prompt = menu.no_input_prompt if not digits else menu.invalid_prompt
            if retry_prompt is not None and attempt < menu.retries:
                await self._play_prompt(call, ctx, retry_prompt)
        log.info("[%s] menu %s: out of attempts -> %s", cid, menu.name, menu.failure_target)
        return menu.failure_target

    def _chosen(
        self,
        ctx: CaseContext,
        menu: Menu,
        result: MenuResult,
        key: str | None = None,
        option: str | None = None,
    ) -> None:
        """The case's timeline step for one menu attempt."""
        self._recorder.emit(MenuChosen(ctx.case_id, self._clock(), menu.name, result, key, option))
