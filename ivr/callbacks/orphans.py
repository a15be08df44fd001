"""The flow of a callback leg nobody dials any more.

The dialer rings the agent and then the customer on legs that enter the Stasis app with
``callback-agent,<tenant>`` / ``callback-customer,<tenant>``. Its own legs never reach the
router (the dialer waits for them by channel id). A restarted controller, though, finds the
legs of the controller that died among the channels in the app and starts them as flows:
this one hangs them up. The request is not touched here: once its lease expires (or the
dead controller is down by its heartbeat) the takeover closes the attempt (as answered when
the customer had answered, so nobody is called twice) and dials again if the policy says so.
"""

from __future__ import annotations

import logging

from ivr.ari.call import Call

log = logging.getLogger(__name__)

AGENT_LEG = "callback-agent"
CUSTOMER_LEG = "callback-customer"


class OrphanedCallbackLeg:
    def __init__(self, name: str) -> None:
        self.name = name

    async def run(self, call: Call, tenant: str) -> None:
        log.warning(
            "[%s] %s leg of tenant %s without its controller: hanging up"
            " (the request's lease is taken over once its holder is down or it expires)",
            call.channel_id,
            self.name,
            tenant,
        )
        await call.hangup()


def orphan_flows() -> tuple[OrphanedCallbackLeg, OrphanedCallbackLeg]:
    return OrphanedCallbackLeg(AGENT_LEG), OrphanedCallbackLeg(CUSTOMER_LEG)
