"""Controller heartbeats (issue 19): this controller's row in ``controllers`` beaten every
``LINJA_HEARTBEAT_INTERVAL`` seconds, and the open cases of controllers whose beat is older
than ``LINJA_CONTROLLER_DOWN_AFTER`` ended as ``node_lost``; and this controller's own calls
ended so when its Asterisk has been gone that long (the ARI event stream down). Offers the
repository (the wallboard shows each node up or down from it)."""

from __future__ import annotations

from ivr.core import Core, Feature
from ivr.heartbeat.asterisk_gone import AsteriskWatch
from ivr.heartbeat.beat import Heartbeat
from ivr.heartbeat.identity import controller_id
from storage.events import Channel, Outcome
from storage.repositories.controllers import ControllerRepository


async def wire(core: Core) -> Feature:
    s = core.settings
    repo = ControllerRepository(core.sessions, down_after=s.controller_down_after)
    heartbeat = Heartbeat(repo, controller_id(), s.bind, interval=s.heartbeat_interval)
    watch = AsteriskWatch(
        lambda: core.stream.connected,
        lambda at: core.cases.end_open(Outcome.NODE_LOST, at, channel=Channel.PHONE),
        core.clock,
        bound=s.controller_down_after,
        interval=s.heartbeat_interval,
    )
    core.services.offer(repo)
    return Feature(
        "heartbeat",
        tasks=(("heartbeat", heartbeat.run), ("asterisk-watch", watch.run)),
        closers=(heartbeat.close,),
    )
