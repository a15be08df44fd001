"""Routes a new call to its flow from the Stasis arguments: ``Stasis(linja,<flow>,<tenant>)``.

Before a flow starts, the admission gate (:class:`Admission`) may shed the call: it then
continues at the ``shed`` label of its extension in the dialplan (the pre-rendered
bulletin, or the call center's "lines are busy" prompt), so the caller is served without
the controller. Flows started, ended and shed are told to :class:`FlowEvents` (metrics).
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Mapping
from typing import Protocol

from ivr.ari.call import Call
from ivr.ari.errors import CallHungUp
from ivr.ari.reconciler import SHED_LABEL

log = logging.getLogger(__name__)


class Flow(Protocol):
    name: str

    async def run(self, call: Call, tenant: str) -> None: ...


class Admission(Protocol):
    def refuse(self, flow: str) -> str | None:
        """Why a new call of ``flow`` must be shed, or None to run it."""
        ...


class FlowEvents(Protocol):
    def flow_started(self, flow: str) -> None: ...

    def flow_ended(self, flow: str) -> None: ...

    def flow_shed(self, flow: str, reason: str) -> None: ...


class _AdmitAll:
    def refuse(self, flow: str) -> str | None:
        return None


class _NoEvents:
    def flow_started(self, flow: str) -> None:
        pass

    def flow_ended(self, flow: str) -> None:
        pass

    def flow_shed(self, flow: str, reason: str) -> None:
        pass


class FlowRouter:
    def __init__(
        self,
        flows: Mapping[str, Flow],
        *,
        admission: Admission | None = None,
        events: FlowEvents | None = None,
    ) -> None:
        self._flows = dict(flows)
        self.admission: Admission = admission or _AdmitAll()
        self.events: FlowEvents = events or _NoEvents()
        self.running: Counter[str] = Counter()  # admitted flows running, by name
        self.shed: Counter[str] = Counter()  # calls shed since start, by flow

    @property
    def flows_running(self) -> int:
        return sum(self.running.values())

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
        reason = self.admission.refuse(flow_name)
        if reason is not None:
            await self._shed(call, flow_name, reason)
            return
        log.debug("[%s] flow %s for tenant %s", call.channel_id, flow_name, tenant)
        self.running[flow_name] += 1
        self.events.flow_started(flow_name)
        try:
            await flow.run(call, tenant)
        finally:
            self.running[flow_name] -= 1
            self.events.flow_ended(flow_name)

    async def _shed(self, call: Call, flow: str, reason: str) -> None:
        """Send the call to its dialplan fallback; hang up if the dialplan has none. Any
        other ARI failure goes up to the dispatcher, which tries the fallback again and
        else leaves the channel to the reconciler."""
        self.shed[flow] += 1
        self.events.flow_shed(flow, reason)
        log.info(
            "[%s] %s call shed (%s): continues at dialplan label %s",
            call.channel_id,
            flow,
            reason,
            SHED_LABEL,
        )
        try:
            await call.continue_in_dialplan(label=SHED_LABEL)
        except CallHungUp as exc:  # 404: no such label (or the caller is gone)
            log.error(
                "[%s] shedding to label %s failed (%s); hanging up",
                call.channel_id,
                SHED_LABEL,
                exc,
            )
            await call.hangup(reason="congestion")
