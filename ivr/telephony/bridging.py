"""Bridging two calls until one side hangs up, recording the bridge when the policy says so.

Used by the queue flow (caller + agent) and by callbacks (agent + customer): it needs two
:class:`Call` handles, the case id, the tenant and a :class:`RecordingPolicy`, nothing about
queues. ``first`` is the call whose event queue receives the recording's events (it must
stay tracked by the dispatcher until :meth:`Bridger.bridge` returns); both calls are hung up
when it returns. The recording starts only once both are in the bridge, so it never holds
audio from before the conversation (nor the recording notice, which was played earlier).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from dataclasses import dataclass
from datetime import datetime

from ivr.ari.bridge import Bridge
from ivr.ari.call import Call
from ivr.ari.errors import AriError, CallHungUp
from ivr.telephony.recorder import ActiveRecording, BridgeRecorder

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RecordingPolicy:
    """Whether to record this bridge, and what the second party hears first.

    ``agent_notice``: media played to ``second`` before it joins ("replay on transfer": the
    agent also hears that the call is recorded). ``notice_played_at``: when the caller's
    notice finished (kept with the recording)."""

    record: bool = False
    agent_notice: str | None = None
    notice_played_at: datetime | None = None


NO_RECORDING = RecordingPolicy()


async def _gone(call: Call) -> None:
    """Returns (by raising CallHungUp) only when the call is gone."""
    await call.wait_event(set(), timeout=None)


class Bridger:
    def __init__(self, recorder: BridgeRecorder | None = None) -> None:
        self._recorder = recorder

    async def bridge(
        self,
        first: Call,
        second: Call,
        *,
        case_id: uuid.UUID,
        tenant_id: uuid.UUID,
        policy: RecordingPolicy = NO_RECORDING,
    ) -> None:
        """Bridge ``first`` and ``second`` until either hangs up, then hang both up."""
        rec: ActiveRecording | None = None
        bridge = await Bridge.create(first.rest, f"b-{first.channel_id}")
        try:
            with contextlib.suppress(AriError):
                await first.stop_moh()
            if policy.record and policy.agent_notice:
                await self._notice_to(second, policy.agent_notice, case_id)
            try:
                await bridge.add(first.channel_id, second.channel_id)
            except AriError:
                for call in (first, second):
                    if call.hung_up:  # left while being put through: a hang-up, not a fault
                        raise CallHungUp(call.channel_id, "gone before the bridge") from None
                raise
            log.info("[%s] bridged %s with %s", case_id, first.channel_id, second.channel_id)
            if policy.record and self._recorder is not None:
                rec = await self._recorder.start(
                    first,
                    bridge,
                    case_id=case_id,
                    tenant_id=tenant_id,
                    notice_played_at=policy.notice_played_at,
                )
            ends = [asyncio.create_task(_gone(c)) for c in (first, second)]
            try:
                await asyncio.wait(ends, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for t in ends:
                    t.cancel()
                    with contextlib.suppress(BaseException):
                        await t
        except asyncio.CancelledError:
            if rec is not None and self._recorder is not None:
                self._recorder.abandon(rec, "the controller stopped during the recording")
                rec = None
            raise
        finally:
            if rec is not None and self._recorder is not None:
                await self._recorder.stop(rec)  # first: the file ends with the conversation
            for call in (second, first):
                try:
                    await call.hangup()
                except AriError as exc:
                    log.warning("[%s] hanging up %s: %s", case_id, call.channel_id, exc)
            if rec is not None and self._recorder is not None:
                await self._recorder.finish(rec)
            with contextlib.suppress(AriError):
                await bridge.destroy()

    async def _notice_to(self, second: Call, media: str, case_id: uuid.UUID) -> None:
        try:
            await second.play(media)
        except CallHungUp:
            raise
        except AriError as exc:
            log.warning("[%s] recording notice to %s failed: %s", case_id, second.channel_id, exc)
