"""The recording notice: callers are told, by an automatic announcement, that the call is
recorded, before any recording starts.

Played once per case (at the start of the call for a recorded service number, or on entering
a recorded queue), in the tenant's language, or the tenant's own ``[recording] notice`` prompt.
The time it finished (after its PlaybackFinished) is kept in the case context and, with the
recording, in the database: a recording never starts before it.
"""

from __future__ import annotations

import logging
from pathlib import Path

from ivr.ari.call import Call
from ivr.clock import Clock
from ivr.flowdefs.model import TenantFlows
from ivr.flows.context import CaseContext
from ivr.prompts import PromptRenderer
from ivr.texts import Text, text

log = logging.getLogger(__name__)


class NoticeFlow:
    def __init__(self, prompts: PromptRenderer, clock: Clock) -> None:
        self._prompts = prompts
        self._clock = clock

    async def media(self, ctx: CaseContext) -> str:
        """What the notice plays for this case's tenant."""
        return await self.media_for(ctx.flows)

    async def media_for(self, flows: TenantFlows) -> str:
        """What the notice plays for this tenant (also to a customer called back)."""
        name = flows.recording.notice
        if name is not None and name in flows.prompts:
            base_dir = Path(flows.source).parent
            return await self._prompts.prompt(flows.prompts[name], flows.language, base_dir)
        spoken = text(Text.RECORDING_NOTICE, flows.language)
        return await self._prompts.text(spoken, flows.language)

    async def play(self, call: Call, ctx: CaseContext) -> None:
        """Play the notice unless this case has heard it; raises CallHungUp if the caller
        leaves during it (then nothing is recorded)."""
        if ctx.notice_played_at is not None:
            return
        media = await self.media(ctx)
        log.info("[%s] case %s: playing the recording notice", call.channel_id, ctx.case_id)
        await call.play(media)
        ctx.notice_played_at = self._clock()
        log.info("[%s] case %s: recording notice played", call.channel_id, ctx.case_id)
