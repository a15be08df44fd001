"""Dialling new legs and waiting for the first of several ringing agent legs to answer.

Both the queue flow (a live caller waits) and the callback dialer (nobody waits) ring the
offered agents at once and take whoever answers first; the queue flow also gives up as soon
as its caller hangs up. The dialer also dials the customer through the same
:class:`Originator`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from ivr.ari.call import Call
from ivr.ari.errors import AriError, CallHungUp
from ivr.ari.originate import Originate, originate
from ivr.ari.protocol import AriRest

log = logging.getLogger(__name__)


class Originator:
    """Dials new channels into the Stasis app. A leg is adopted before Asterisk is asked for
    it, so none of its events is missed, and released again when Asterisk refuses."""

    def __init__(
        self,
        rest: AriRest,
        adopt: Callable[[str], Call],
        release: Callable[[Call], None],
        app: str,
    ) -> None:
        self._rest = rest
        self._adopt = adopt
        self._release = release
        self._app = app

    async def dial(
        self,
        channel_id: str,
        endpoint: str,
        app_args: str,
        *,
        ring_seconds: int,
        caller_id: str | None = None,
        variables: Mapping[str, str] | None = None,
    ) -> Call:
        """The new leg, ringing for at most ``ring_seconds`` (Asterisk's originate timeout);
        raises AriError (leg released) when Asterisk refuses. ``variables``: channel
        variables for the dialplan (``LINJA_APP``, the Stasis app, is added to them)."""
        request = Originate(
            endpoint=endpoint,
            app=self._app,
            app_args=app_args,
            channel_id=channel_id,
            timeout=ring_seconds,
            caller_id=caller_id,
            variables={} if variables is None else {"LINJA_APP": self._app, **variables},
        )
        leg = self._adopt(channel_id)
        try:
            await originate(self._rest, request)
        except AriError:
            self._release(leg)
            raise
        return leg

    async def ring_agents(
        self,
        agents: Sequence[str],
        ring_timeout: float,
        *,
        leg_id: Callable[[str], str],
        app_args: str,
        caller_id: str,
        tag: str,
    ) -> tuple[dict[str, Call], list[str]]:
        """Ring each agent's phone; returns the ringing legs by agent and the agents that
        could not be rung (``tag`` prefixes the log lines: the channel or request id)."""
        legs: dict[str, Call] = {}
        unreachable: list[str] = []
        for agent in agents:
            channel_id = leg_id(agent)
            try:
                legs[agent] = await self.dial(
                    channel_id,
                    f"PJSIP/{agent}",
                    app_args,
                    ring_seconds=int(ring_timeout),
                    caller_id=caller_id,
                )
            except AriError as exc:
                log.warning("[%s] cannot ring agent %s: %s", tag, agent, exc)
                unreachable.append(agent)
                continue
            log.info("[%s] ringing agent %s (leg %s)", tag, agent, channel_id)
        return legs, unreachable


async def first_answer(
    legs: dict[str, Call],
    ring_timeout: float,
    *,
    caller: Call | None = None,
    on_end: Callable[[str, bool], None] | None = None,
) -> str | None:
    """The agent whose leg answered first, None if none did within the ring timeout.
    With ``caller``, raises CallHungUp as soon as that call hangs up. ``on_end(agent,
    gone)`` is told the moment a leg stops ringing unanswered: ``gone`` when the leg hung up
    (refused, or ended by Asterisk's ring timeout), else our own timeout passed."""

    async def wait(agent: str, leg: Call) -> str | None:
        try:
            await leg.wait_event({"StasisStart"}, timeout=ring_timeout + 1)
        except (CallHungUp, TimeoutError) as exc:
            if on_end is not None:
                on_end(agent, isinstance(exc, CallHungUp))
            return None
        return agent

    rings = {asyncio.create_task(wait(a, leg)) for a, leg in legs.items()}

    async def gone(call: Call) -> None:
        """Returns (by raising CallHungUp) only when the call is gone."""
        await call.wait_event(set(), timeout=None)

    watching = {asyncio.create_task(gone(caller))} if caller is not None else set()
    try:
        pending: set[asyncio.Task[str | None]] = set(rings)
        while pending:
            done, _ = await asyncio.wait(pending | watching, return_when=asyncio.FIRST_COMPLETED)
            for task in watching & done:
                task.result()  # raises CallHungUp
            for ring in rings & done:
                pending.discard(ring)
                agent = ring.result()
                if agent is not None:
                    return agent
        return None
    finally:
        tasks: list[asyncio.Task[Any]] = [*rings, *watching]
        for task in tasks:
            task.cancel()
            with contextlib.suppress(BaseException):
                await task
