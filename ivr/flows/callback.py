"""Callback capture: the caller leaves a callback request and hangs up, keeping their place.

Reached from a menu (``callback:<queue>``) or from a queue, where a waiting caller presses the
queue's callback key ("press 1 to be called back; you keep your place"). The caller confirms
the number they call from ("press 1 to confirm 0 4 0, 1 2 3, 4 5 6 7, 2 to key another") or
keys in another one, ended with #; a number must parse as a Finnish or E.164 number and be
on the tenant's callback allow-list (``[callbacks]``,
:func:`ivr.telephony.numbers.callable_number`): a caller id off it is not offered, a keyed
one is refused like garbage. Three failed tries end the call with the goodbye prompt and no
request. Once confirmed, the request is emitted to the case recorder (``ContactRequested``,
with the caller's original arrival in the queue as its place). When the queue's callback
config says ``message = true`` the caller may then press 1 to leave a voice message for the
agent (:meth:`ivr.flows.voicemail.VoicemailFlow.record_message`, linked to the same case; the
request is already stored, so a hang-up during it loses nothing). The caller hears a spoken
confirmation and the call ends, but only once the recorder says the request is kept (in
Postgres or its fsync'd spool, :meth:`storage.recorder.CaseRecorder.durable`): a request
that cannot be kept anywhere is not confirmed (the caller is asked to call again). The
dialer picks it up from the table. A number under a processing
restriction is never dialled, so the caller is told so and may key another; a restricted
caller is not offered the voice message. The number is read back digit by digit
(:meth:`ivr.prompts.PromptRenderer.sentence`): it is personal data and never becomes a cached
spoken text.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from datetime import datetime

from ivr.ari.call import Call
from ivr.clock import Clock
from ivr.flowdefs.model import Queue, Target
from ivr.flows.context import CaseContext
from ivr.flows.restriction import Restrictions, number_restricted
from ivr.flows.voicemail import VoicemailFlow
from ivr.prompts import PromptRenderer
from ivr.telephony.numbers import InvalidNumber, NumberPolicy, PhoneNumber, callable_number
from ivr.texts import Text, text
from storage.events import ContactRequested, DurableSink, Outcome

log = logging.getLogger(__name__)

MAX_TRIES = 3
MAX_NUMBER_DIGITS = 16


class CallbackFlow:
    """Captures a callback request for a queue. ``on_request`` tells the dialer to look."""

    def __init__(
        self,
        prompts: PromptRenderer,
        recorder: DurableSink,
        clock: Clock,
        *,
        on_request: Callable[[], None] = lambda: None,
        voicemail: VoicemailFlow,
        restrictions: Restrictions,
    ) -> None:
        self._restrictions = restrictions
        self._prompts = prompts
        self._recorder = recorder
        self._clock = clock
        self._on_request = on_request
        self._voicemail = voicemail

    async def run(
        self, call: Call, ctx: CaseContext, queue: Queue, *, place: datetime | None = None
    ) -> Target | None:
        """Capture for ``queue``. ``place``: when the caller entered the queue (kept as the
        request's virtual arrival); None: now. Returns where to go on failure, None when
        the request was taken and the call ended."""
        cid = call.channel_id
        lang = ctx.flows.language
        log.info("[%s] callback capture for queue %s (case %s)", cid, queue.name, ctx.case_id)
        number = self._caller_number(call, ctx.flows.callbacks)
        for attempt in range(1, MAX_TRIES + 1):
            if number is None:
                number = await self._key_number(call, lang, ctx.flows.callbacks)
                if number is None:
                    log.info("[%s] callback: no valid number (try %d/%d)", cid, attempt, MAX_TRIES)
                    await call.play(await self._text(lang, Text.CALLBACK_INVALID))
                    continue
            choice = await call.prompt_digits(
                # The number is said digit by digit: never cached as a spoken text.
                await self._prompts.sentence(Text.CALLBACK_CONFIRM, lang, digits=number.national),
                1,
                first_timeout=6.0,
                inter_timeout=2.0,
            )
            if choice == "1" and await self._restricted(call, ctx, number):
                await call.play(await self._text(lang, Text.CALLBACK_RESTRICTED))
            elif choice == "1":
                if not await self._store(ctx, queue, number, place):
                    log.critical(
                        "[%s] callback request for queue %s could not be kept (case %s): "
                        "the caller is told to call again",
                        cid, queue.name, ctx.case_id,
                    )  # fmt: skip
                    await call.play(await self._text(lang, Text.CALLBACK_NOT_KEPT))
                    await call.hangup()
                    return None
                log.info("[%s] callback request stored for queue %s", cid, queue.name)
                await self._offer_message(call, ctx, queue)
                await call.play(await self._text(lang, Text.CALLBACK_DONE))
                await call.hangup()
                return None
            log.info("[%s] callback: confirmation %r (try %d/%d)", cid, choice, attempt, MAX_TRIES)
            number = None  # 2 (or anything else): key in a number
        log.info("[%s] callback: out of tries, no request", cid)
        return Target("hangup", "goodbye")

    async def _restricted(self, call: Call, ctx: CaseContext, number: PhoneNumber) -> bool:
        """A number under a processing restriction is never dialled, so no request is taken
        for it (the caller may key another). Unknown (Postgres down): taken; the dialer
        checks again before it dials."""
        if not await number_restricted(
            self._restrictions,
            ctx.tenant_id,
            number.e164,
            cid=call.channel_id,
            when_unknown=False,
        ):
            return False
        log.info(
            "[%s] callback: the number's processing is restricted: no request", call.channel_id
        )
        return True

    async def _offer_message(self, call: Call, ctx: CaseContext, queue: Queue) -> None:
        """ "Press 1 to leave a message": an optional voice message for the agent. Not for
        a restricted caller (the confirmed number was checked before the request)."""
        if not queue.callback.message:
            return
        if await self._voicemail.refused(call, ctx):
            return
        call.clear_digits()
        choice = await call.prompt_digits(
            await self._text(ctx.flows.language, Text.CALLBACK_OFFER_MESSAGE),
            1,
            first_timeout=4.0,
            inter_timeout=1.0,
        )
        if choice != "1":
            return
        log.info("[%s] callback: the caller leaves a message", call.channel_id)
        await self._voicemail.record_message(call, ctx, queue.name)

    def _caller_number(self, call: Call, policy: NumberPolicy) -> PhoneNumber | None:
        try:
            return callable_number(call.caller_number, policy)
        except InvalidNumber as exc:
            log.info(
                "[%s] caller id not callable (%s): asking for one", call.channel_id, exc.reason
            )
            return None

    async def _key_number(self, call: Call, lang: str, policy: NumberPolicy) -> PhoneNumber | None:
        call.clear_digits()
        keyed = await call.prompt_digits(
            await self._text(lang, Text.CALLBACK_KEY),
            MAX_NUMBER_DIGITS,
            first_timeout=10.0,
            inter_timeout=5.0,
            terminators="#",
        )
        try:
            return callable_number(keyed, policy)
        except InvalidNumber as exc:
            log.info("[%s] keyed number refused: %s", call.channel_id, exc.reason)
            return None

    async def _text(self, lang: str, key: Text) -> str:
        return await self._prompts.text(text(key, lang), lang)

    async def _store(
        self, ctx: CaseContext, queue: Queue, number: PhoneNumber, place: datetime | None
    ) -> bool:
        """Hand the request to the case recorder and wait until it is kept (database or
        fsync'd spool): only then may the caller hear that they will be called back."""
        now = self._clock()
        self._recorder.emit(
            ContactRequested(
                ctx.case_id,
                uuid.uuid4(),
                now,
                callback_number=number.e164,
                queue=queue.name,
                queue_entered_at=place or now,
            )
        )
        ctx.outcome = Outcome.CALLBACK_REQUESTED
        kept = await self._recorder.durable(ctx.case_id)
        self._on_request()
        return kept
