"""One call to one member of a call-out: dial their number through the trunk, and once they
answer: answering-machine detection (Asterisk's ``AMD()`` in the dialplan context
``linja-callout``, which hands the leg back with its verdict), then the PIN (when the
call-out asks for one), the message, then "press 1 to confirm, 2 if you cannot come, star to
hear it again".

Only a key press decides: ``1`` confirmed, ``2`` declined. Whatever else happens is "not
reached" and retried by the policy: busy, no answer, a failed dial, a wrong PIN three times,
an answered call that ends without a key (a person who hung up), or an answering machine
(``machine``: it hears the message once after its greeting, and is hung up). A key pressed
during the detection still counts (only a person presses one). The decision is handed to
``decided`` (which stores it) *before* the member hears the thanks, so a confirmation
survives a crash right after the key press. Cancelled (the call-out ended), the member hears
that it has ended and the call is hung up (during the detection: once the leg is back from
it, within the goodbye time).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from ivr.ari.call import Call, Event
from ivr.ari.errors import AriError, CallHungUp
from ivr.callbacks.dialer import result_for_cause
from ivr.callout.policy import AttemptOutcome
from ivr.clock import Clock
from ivr.prompts import PromptRenderer
from ivr.telephony.ringing import Originator
from ivr.texts import Text, text
from storage.errors import StorageError
from storage.events import CallbackResult

__all__ = ["FLOW", "CallSpec", "MemberCall", "OrphanedLeg", "PinCheck"]

log = logging.getLogger(__name__)

PinCheck = Callable[[str, str], Awaitable[bool]]  # (stored hash, typed) -> matches
FLOW = "callout-member"
AMD_CONTEXT = "linja-callout"  # dialplan/linja.conf: AMD(), then back into Stasis
AMD_EXTENSION = "amd"
_NOT_REACHED = {
    CallbackResult.BUSY: AttemptOutcome.BUSY,
    CallbackResult.NO_ANSWER: AttemptOutcome.NO_ANSWER,
}
_DECIDING = {"1": AttemptOutcome.CONFIRMED, "2": AttemptOutcome.DECLINED}
_THANKS = {
    AttemptOutcome.CONFIRMED: Text.CALLOUT_CONFIRMED,
    AttemptOutcome.DECLINED: Text.CALLOUT_DECLINED,
}


class LegAttempts(Protocol):
    async def interrupt_leg(self, channel_id: str, at: datetime) -> int: ...


class OrphanedLeg:
    """The flow of a member leg nobody dials any more: a restarted controller finds it in
    the Stasis app (its own controller died), hangs it up and closes its attempt as
    ``interrupted`` (also when the call-out has ended meanwhile and no lease is taken over);
    the call-out carries on, and the member is called again if the policy says so."""

    name = FLOW

    def __init__(self, attempts: LegAttempts, clock: Callable[[], datetime]) -> None:
        self._attempts = attempts
        self._clock = clock

    async def run(self, call: Call, tenant: str) -> None:
        log.warning("[%s] call-out member leg without its controller: hanging up", call.channel_id)
        try:
            if await self._attempts.interrupt_leg(call.channel_id, self._clock()):
                log.info("[%s] call-out attempt closed as interrupted", call.channel_id)
        except StorageError as exc:  # the lease takeover closes it later
            log.warning("[%s] call-out attempt not closed yet (%s)", call.channel_id, exc)
        await call.hangup()


@dataclass(frozen=True, slots=True)
class CallSpec:
    channel_id: str
    number: str
    message: str  # spoken with text-to-speech in ``language``
    tenant: str  # slug (the leg's Stasis arguments name it, as every flow's do)
    language: str
    ring_seconds: float
    pin_hash: str | None = None  # asked first when set
    audio_key: str | None = None  # an uploaded message (its sha256) instead of the text
    audio: Callable[[], Awaitable[bytes]] | None = None  # fetches it, on first use
    tag: str = ""  # log prefix: callout and member ids


@dataclass(frozen=True, slots=True)
class CallResult:
    outcome: AttemptOutcome
    key: str | None
    answered_at: datetime | None


class MemberCall:
    def __init__(
        self,
        originator: Originator,
        prompts: PromptRenderer,
        check_pin: PinCheck,
        clock: Clock,
        trunk: str,
        *,
        key_timeout: float = 6.0,
        plays: int = 3,
        pin_tries: int = 3,
        goodbye_timeout: float = 10.0,
        amd_timeout: float = 40.0,
    ) -> None:
        self._originator = originator
        self._prompts = prompts
        self._check_pin = check_pin
        self._clock = clock
        self._trunk = trunk
        self._key_timeout = key_timeout
        self._plays = plays
        self._pin_tries = pin_tries
        self._goodbye_timeout = goodbye_timeout
        self._amd_timeout = amd_timeout  # AMD (5 s) + a machine's greeting (20 s), at most

    async def run(
        self,
        spec: CallSpec,
        answered: Callable[[datetime], Awaitable[None]],
        decided: Callable[[AttemptOutcome, str], Awaitable[None]],
    ) -> CallResult:
        try:
            leg = await self._originator.dial(
                spec.channel_id,
                f"PJSIP/customers/sip:{spec.number}@{self._trunk}",
                f"{FLOW},{spec.tenant}",
                ring_seconds=int(spec.ring_seconds) + 5,  # our own timer decides "no answer"
                variables={"LINJA_TENANT": spec.tenant},
            )
        except AriError as exc:
            log.warning("[%s] cannot dial (%s): %s", spec.tag, spec.channel_id, exc)
            return CallResult(AttemptOutcome.FAILED, None, None)
        log.info("[%s] dialling (channel %s)", spec.tag, spec.channel_id)
        at: datetime | None = None
        try:
            ringing = await self._ring(leg, spec.ring_seconds)
            if ringing is not None:
                log.info("[%s] %s (channel %s)", spec.tag, ringing, spec.channel_id)
                return CallResult(ringing, None, None)
            at = self._clock()
            await answered(at)
            if await self._machine(leg, spec):
                await self._leave_message(leg, spec)
                return CallResult(AttemptOutcome.MACHINE, None, at)
            outcome, key = await self._converse(leg, spec)
            if outcome in _THANKS:
                await decided(outcome, key)
                log.info("[%s] pressed %s: %s", spec.tag, key, outcome)
                with contextlib.suppress(CallHungUp, AriError):
                    await leg.play(await self._say(_THANKS[outcome], spec.language))
            else:
                log.info("[%s] answered, %s", spec.tag, outcome)
            return CallResult(outcome, key or None, at)
        except CallHungUp:
            log.info("[%s] hung up without a key (channel %s)", spec.tag, spec.channel_id)
            return CallResult(AttemptOutcome.NO_KEY, None, at)
        except asyncio.CancelledError:
            await asyncio.shield(self._goodbye(leg, spec, answered=at is not None))
            raise
        finally:
            with contextlib.suppress(AriError):
                await leg.hangup()

    async def _ring(self, leg: Call, ring: float) -> AttemptOutcome | None:
        """None once answered, else how the ringing ended."""
        try:
            event = await leg.wait_event(
                {"StasisStart", "ChannelDestroyed"}, timeout=ring, raise_on_hangup=False
            )
        except TimeoutError:
            return AttemptOutcome.NO_ANSWER
        if event.get("type") == "StasisStart":
            return None
        return _NOT_REACHED.get(result_for_cause(event.get("cause")), AttemptOutcome.FAILED)

    async def _machine(self, leg: Call, spec: CallSpec) -> bool:
        """AMD in the dialplan; True for an answering machine (its greeting is over when
        this returns). Not sure, or no verdict in time: a person (they may press a key)."""
        detection = asyncio.ensure_future(
            leg.run_in_dialplan(AMD_CONTEXT, AMD_EXTENSION, timeout=self._amd_timeout)
        )
        try:
            back = await asyncio.shield(detection)
        except asyncio.CancelledError:
            # The call-out ended during the detection: nothing can be played to a leg in the
            # dialplan, so let it come back (within the goodbye time) to be told.
            await self._back_from_detection(detection, spec)
            raise
        except TimeoutError:
            log.warning("[%s] no answering-machine verdict in time: taken as a person", spec.tag)
            return False
        args = [str(a) for a in back.get("args") or []]
        status, cause = (args[3] if len(args) > 3 else ""), (args[4] if len(args) > 4 else "")
        log.info("[%s] answering-machine detection: %s %s", spec.tag, status or "-", cause)
        return status == "MACHINE"

    async def _back_from_detection(self, detection: asyncio.Future[Event], spec: CallSpec) -> None:
        """Waits (at most the goodbye time) for the leg to come back from the detection."""
        try:
            async with asyncio.timeout(self._goodbye_timeout):
                await asyncio.shield(detection)
        except TimeoutError:
            log.info("[%s] call-out ended during the detection: not back in time", spec.tag)
        except (CallHungUp, AriError):
            pass  # gone meanwhile: nobody to tell
        finally:
            if not detection.done():
                detection.cancel()

    async def _leave_message(self, leg: Call, spec: CallSpec) -> None:
        """An answering machine hears the message once (after its greeting)."""
        with contextlib.suppress(CallHungUp, AriError):
            await leg.play(await self._message(spec))
        log.info("[%s] answering machine: message left, not reached", spec.tag)

    async def _message(self, spec: CallSpec) -> list[str]:
        intro = await self._say(Text.CALLOUT_INTRO, spec.language)
        if spec.audio_key is not None and spec.audio is not None:
            message = await self._prompts.stored(f"callout-{spec.audio_key}", spec.audio)
        else:
            message = await self._prompts.text(spec.message, spec.language)
        return [intro, message]

    async def _converse(self, leg: Call, spec: CallSpec) -> tuple[AttemptOutcome, str]:
        lang = spec.language
        if spec.pin_hash is not None and not await self._pin(leg, spec.pin_hash, lang):
            return AttemptOutcome.WRONG_PIN, ""
        intro, message = await self._message(spec)
        options = await self._say(Text.CALLOUT_OPTIONS, lang)
        for _ in range(self._plays):
            key = await leg.prompt_digits(
                [intro, message, options],
                1,
                first_timeout=self._key_timeout,
                inter_timeout=1.0,
                terminators="",
            )
            if key in _DECIDING:
                return _DECIDING[key], key
            leg.clear_digits()  # "*", another key or nothing: hear it again
        return AttemptOutcome.NO_KEY, ""

    async def _pin(self, leg: Call, pin_hash: str, lang: str) -> bool:
        ask = await self._say(Text.CALLOUT_PIN, lang)
        for _ in range(self._pin_tries):
            typed = await leg.prompt_digits(
                ask, 12, first_timeout=self._key_timeout, inter_timeout=3.0
            )
            if typed and await self._check_pin(pin_hash, typed):
                return True
            await leg.play(await self._say(Text.CALLOUT_PIN_WRONG, lang))
        return False

    async def _goodbye(self, leg: Call, spec: CallSpec, *, answered: bool) -> None:
        """The call-out ended while this call was up: say so (answered) and hang up."""
        with contextlib.suppress(CallHungUp, AriError, TimeoutError):
            if answered and not leg.hung_up:
                async with asyncio.timeout(self._goodbye_timeout):
                    await leg.play(await self._say(Text.CALLOUT_ENDED, spec.language))
        with contextlib.suppress(AriError):
            await leg.hangup()
        log.info("[%s] call-out ended: call closed (channel %s)", spec.tag, spec.channel_id)

    async def _say(self, key: Text, lang: str) -> str:
        return await self._prompts.text(text(key, lang), lang)
