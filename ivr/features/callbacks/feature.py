"""Callbacks (soittopyynnöt): the capture flow a caller reaches from a queue or the menu, and
the auto-dialer that rings a free agent, then the customer, with retries under a lease."""

from __future__ import annotations

from ivr.callbacks.dialer import CallbackDialer, DialerConfig
from ivr.callbacks.orphans import orphan_flows
from ivr.callbacks.outbox import OutcomeSpool
from ivr.callcenter.coordinator import QueueCoordinator
from ivr.core import Core, Feature
from ivr.features.recordings.feature import Bridgers
from ivr.flows.callback import CallbackFlow
from ivr.flows.notice import NoticeFlow
from ivr.flows.voicemail import VoicemailFlow
from ivr.heartbeat.identity import controller_id
from storage.repositories.callbacks import CallbackRepository


async def wire(core: Core) -> Feature:
    s = core.settings
    dialer = CallbackDialer(
        CallbackRepository(core.sessions, down_after=s.controller_down_after),
        core.services.need(QueueCoordinator),
        core.definitions,
        core.ari,
        core.dispatcher.adopt,
        core.dispatcher.release,
        core.prompts,
        core.directory,
        core.services.need(Bridgers).attached,
        core.clock,
        DialerConfig(
            controller_id=controller_id(),
            app=s.ari_app,
            trunk=s.callback_trunk,
            poll_interval=s.callback_poll_interval,
            lease=s.callback_lease,
            retry_delay=s.callback_retry_delay,
            takeover_grace=s.callback_takeover_grace,
        ),
        restrictions=core.restrictions,
        notice=core.services.need(NoticeFlow),
        outcomes=OutcomeSpool(s.state_dir / "spool" / "callbacks"),
    )
    capture = CallbackFlow(
        core.prompts,
        core.cases,
        core.clock,
        on_request=dialer.notify,
        voicemail=core.services.need(VoicemailFlow),
        restrictions=core.restrictions,
    )
    core.services.offer(capture)
    return Feature("callbacks", flows=orphan_flows(), tasks=(("callback-dialer", dialer.run),))
