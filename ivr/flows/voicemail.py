"""Voice messages: the caller hears a prompt and a beep, then speaks; the message ends at the
tenant's maximum length, on silence, on ``#`` or when the caller hangs up (Asterisk keeps
what was said). The audio is finalised into the audio store and lands as a
``VoiceMessageSaved`` row linked to the case; one that could not be kept lands as a row with
status failed and the reason.

``run`` serves a ``voicemail:<box>`` target; :meth:`VoicemailFlow.record_message` is the part
other flows (callback capture) reuse. A caller whose processing is restricted is told that no
message can be taken, and nothing is recorded (:meth:`VoicemailFlow.refused`).
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from datetime import timedelta

from ivr.ari.call import Call
from ivr.ari.errors import AriError, CallHungUp
from ivr.clock import Clock
from ivr.flows.context import CaseContext
from ivr.flows.restriction import Restrictions, number_restricted
from ivr.prompts import PromptRenderer
from ivr.texts import Text, text
from recording.errors import RecordingLost
from recording.finalise import Finaliser, recording_name
from recording.store import AudioKind
from storage.events import AudioStatus, DurableSink, Outcome, VoiceMessageSaved

log = logging.getLogger(__name__)


class VoicemailFlow:
    def __init__(
        self,
        prompts: PromptRenderer,
        finaliser: Finaliser,
        sink: DurableSink,
        clock: Clock,
        *,
        restrictions: Restrictions,
        end_grace: float = 10.0,
    ) -> None:
        self._restrictions = restrictions
        self._prompts = prompts
        self._finaliser = finaliser
        self._sink = sink
        self._clock = clock
        self._end_grace = end_grace  # beyond max_length, for Asterisk's end event

    async def run(self, call: Call, ctx: CaseContext, box: str) -> None:
        """The ``voicemail:<box>`` target: take the message, thank the caller, hang up."""
        if await self.refused(call, ctx):
            ctx.outcome = Outcome.CLOSED  # the box is closed to this caller
            await call.play(await self._text(ctx, None, Text.VOICEMAIL_REFUSED))
            await call.hangup()
            return
        ctx.outcome = Outcome.VOICEMAIL
        saved = await self.record_message(call, ctx, box)
        if saved is not None and saved.status == AudioStatus.COMPLETED and not call.hung_up:
            await call.play(
                await self._text(ctx, ctx.flows.voicemail.thanks, Text.VOICEMAIL_THANKS)
            )
        await call.hangup()

    async def refused(self, call: Call, ctx: CaseContext) -> bool:
        """Whether no message may be taken: the caller's number is under a processing
        restriction. When that cannot be checked the message is taken (see
        ivr.flows.restriction)."""
        cid = call.channel_id
        if not await number_restricted(
            self._restrictions,
            ctx.tenant_id,
            call.caller_number,
            cid=cid,
            when_unknown=False,
        ):
            return False
        log.info("[%s] case %s: processing restricted: no voice message", cid, ctx.case_id)
        return True

    async def _text(self, ctx: CaseContext, prompt: str | None, key: Text) -> str:
        """The tenant's own prompt if it names one, else the system text ``key``."""
        flows = ctx.flows
        if prompt is not None and prompt in flows.prompts:
            return await self._prompts.prompt(flows.prompts[prompt], flows.language, ctx.base_dir)
        return await self._prompts.text(text(key, flows.language), flows.language)

    async def record_message(
        self, call: Call, ctx: CaseContext, box: str
    ) -> VoiceMessageSaved | None:
        """Prompt, beep, record. Returns the saved message (status completed, or failed with
        the reason); None when the caller hung up before the recording started. Raises
        CallHungUp only in that case too."""
        cid = call.channel_id
        cfg = ctx.flows.voicemail
        await call.play(await self._text(ctx, cfg.prompt, Text.VOICEMAIL_PROMPT))
        call.clear_digits()
        message_id = uuid.uuid4()
        name = recording_name("vm", message_id, ctx.case_id)
        try:
            await call.start_recording(
                name,
                max_duration_seconds=max(1, int(cfg.max_length)),
                max_silence_seconds=int(cfg.max_silence),
                beep=True,
                terminate_on="#",
                if_exists="fail",
            )
        except CallHungUp:
            log.info("[%s] case %s: caller left before the message started", cid, ctx.case_id)
            raise
        except AriError as exc:
            log.error("[%s] case %s: cannot record a message: %s", cid, ctx.case_id, exc)
            return self._failed(ctx, message_id, name, box, f"could not start: {exc}")
        log.info("[%s] case %s: recording a message for box %s", cid, ctx.case_id, box)
        failure: str | None = None
        try:
            event = await call.wait_recording(name, timeout=cfg.max_length + self._end_grace)
        except TimeoutError:
            failure = "no end of recording from Asterisk"
            await self._stop(call, name)
        except asyncio.CancelledError:
            self._failed(ctx, message_id, name, box, "the controller stopped during the message")
            raise
        else:
            if event.get("type") == "RecordingFailed":
                cause = (event.get("recording") or {}).get("cause") or "unknown cause"
                failure = f"Asterisk: recording failed ({cause})"
        finally:
            call.unregister_recording(name)
        call.clear_digits()  # the '#' that ended it
        return await self._save(ctx, message_id, name, box, failure)

    async def _stop(self, call: Call, name: str) -> None:
        try:
            await call.live_recording(name).stop()
        except AriError as exc:
            log.warning("[%s] stopping message %s: %s", call.channel_id, name, exc)

    async def _save(
        self,
        ctx: CaseContext,
        message_id: uuid.UUID,
        name: str,
        box: str,
        failure: str | None,
    ) -> VoiceMessageSaved:
        at = self._clock()
        try:
            done = await self._finaliser.finalise(
                name, AudioKind.VOICE_MESSAGE, ctx.tenant_id, message_id, at, keep_source=True
            )
        except RecordingLost as exc:
            reason = exc.reason if failure is None else f"{failure}; {exc.reason}"
            return self._failed(ctx, message_id, name, box, reason)
        failure = done.failure(failure)
        saved = VoiceMessageSaved(
            case_id=ctx.case_id,
            voice_message_id=message_id,
            name=name,
            location=done.stored.location,
            completed_at=at,
            duration=done.duration,
            size_bytes=done.stored.size_bytes,
            sha256=done.stored.sha256,
            status=AudioStatus.COMPLETED if failure is None else AudioStatus.FAILED,
            failure_reason=failure,
            box=box,
        )
        self._sink.emit(saved)
        await self._finaliser.release(name, self._sink, ctx.case_id)
        log.info(
            "[%s] voice message %s for box %s: %s, %.2fs",
            ctx.case_id,
            message_id,
            box,
            saved.status,
            done.duration.total_seconds(),
        )
        return saved

    def _failed(
        self, ctx: CaseContext, message_id: uuid.UUID, name: str, box: str, reason: str
    ) -> VoiceMessageSaved:
        at = self._clock()
        where = self._finaliser.placeholder(AudioKind.VOICE_MESSAGE, ctx.tenant_id, message_id, at)
        saved = VoiceMessageSaved(
            case_id=ctx.case_id,
            voice_message_id=message_id,
            name=name,
            location=where.location,
            completed_at=at,
            duration=timedelta(0),
            size_bytes=0,
            sha256=where.sha256,
            status=AudioStatus.FAILED,
            failure_reason=reason[:1000],
            box=box,
        )
        log.error("[%s] voice message %s failed: %s", ctx.case_id, message_id, reason)
        self._sink.emit(saved)
        return saved
