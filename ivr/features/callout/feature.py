"""Staff call-out (issue 16): groups of staff and partners phoned with a message until enough
confirm. Wires the dialer (a background task: leases in Postgres), the member-call flow, the
`/api/groups` and `/api/callouts` routes; `linja group` / `linja callout` are in cli.py."""

from __future__ import annotations

from ivr.ari.call import Call
from ivr.callout.call import MemberCall, OrphanedLeg
from ivr.callout.dialer import CalloutConfig, CalloutDialer
from ivr.callout.outbox import CalloutOutbox
from ivr.callout.service import CalloutService
from ivr.core import Core, Feature
from ivr.features.callout.cli import defaults
from ivr.heartbeat.identity import controller_id
from ivr.http.callouts import add_routes
from ivr.telephony.ringing import Originator
from storage.passwords import Hasher
from storage.repositories.callouts import CalloutRepository
from storage.repositories.staff import StaffGroupRepository


async def wire(core: Core) -> Feature:
    s = core.settings
    # A lease whose holder is down by its heartbeat (a lost node) is taken over at once.
    store = CalloutRepository(core.sessions, down_after=s.controller_down_after)
    hasher = Hasher()
    member_call = MemberCall(
        Originator(core.ari, core.dispatcher.adopt, core.dispatcher.release, s.ari_app),
        core.prompts,
        hasher.verify,
        core.clock,
        s.callback_trunk,
        key_timeout=s.callout_key_timeout,
        plays=s.callout_plays,
    )

    async def hangup_orphan(channel_id: str) -> None:
        """A leg a dead controller left up: adopted just to hang it up."""
        leg: Call = core.dispatcher.adopt(channel_id)
        try:
            await leg.hangup()
        finally:
            core.dispatcher.release(leg)

    dialer = CalloutDialer(
        store,
        member_call,
        core.clock,
        CalloutConfig(
            controller_id=controller_id(),
            poll_interval=s.callout_poll_interval,
            lease=s.callout_lease,
            total_cap=s.callout_total_cap,
            rate=s.callout_rate,
            takeover_grace=s.callout_takeover_grace,
        ),
        restrictions=core.restrictions,
        hangup_orphan=hangup_orphan,
        outcomes=CalloutOutbox(s.state_dir / "spool" / "callouts"),
    )
    service = CalloutService(
        core.tenants,
        StaffGroupRepository(core.sessions),
        store,
        core.clock,
        defaults=defaults(s),
        hasher=hasher,
        on_start=dialer.notify,
    )
    core.services.offer(service)  # the console's call-out pages read through it
    return Feature(
        "callout",
        flows=(OrphanedLeg(store, core.clock),),
        routes=(lambda app: add_routes(app, service, core.tenants, core.guard),),
        tasks=(("callout-dialer", dialer.run),),
    )
