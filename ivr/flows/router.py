"""Routes a new call to its flow from the Stasis arguments: ``Stasis(linja,<flow>,<tenant>)``."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Protocol

from ivr.ari.call import Call

log = logging.getLogger(__name__)


class Flow(Protocol):
    name: str

    async def run(self, call: Call, tenant: str) -> None: ...


class FlowRouter:
    def __init__(self, flows: Mapping[str, Flow]) -> None:
        self._flows = dict(flows)

    def add(self, flow: Flow) -> None:
        self._flows[flow.name] = flow

    async def handle(self, call: Call) -> None:
        if len(call.args) < 2:
            log.error(
                "[%s] Stasis arguments %r: expected <flow>,<tenant>; hanging up",
                call.channel_id,
                call.args,
            )
            await call.hangup()
            return
        flow_name, tenant = call.args[0], call.args[1]
        flow = self._flows.get(flow_name)
        if flow is None:
            log.error("[%s] unknown flow %r; hanging up", call.channel_id, flow_name)
            await call.hangup()
            return
        log.debug("[%s] flow %s for tenant %s", call.channel_id, flow_name, tenant)
        await flow.run(call, tenant)
