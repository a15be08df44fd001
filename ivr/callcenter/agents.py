"""Agent state: who is logged in, ringing, on a call, resting or paused.

One ``AgentBoard`` holds every agent's state. An agent can serve several queues; its state is
global across them, so an agent ringing for one queue is not available to another: an agent
never gets two calls. Pure and deterministic: every change takes ``now``.

States and transitions (anything else raises ``IllegalTransition``)::

    logged_out --login--> available --offer--> ringing --answer--> busy --end_call--> wrap_up
                            ^   ^                 |                                    |
                            |   +----release------+            (wrap_up == 0) / tick(now)
                            |   +----------------------------------------------------+
    paused <--pause-- available | wrap_up          paused --unpause--> available
    any logged-in state --logout--> logged_out

Pausing or logging out while ``ringing`` or ``busy`` does not cut the call: it is recorded as
*pending* and takes effect when the agent would next become available (the ring is released,
or the call ends, which then skips the wrap-up). ``idle_since`` is when the agent last became
available (login, unpause, end of wrap-up); an unanswered ring does not reset it. It orders
agents for the longest-idle strategy.

``snapshot()`` gives plain dicts (ISO-8601 timestamps) that the lead stores in Postgres;
``restore()`` reads them back after a controller restart. ``ringing`` and ``busy`` are tied to
call legs the dead controller owned, so restore makes them ``available`` unless the caller
names the agent in ``still_busy`` (an agent it found still bridged after an ARI resync).
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Iterable, Iterator, Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, Literal, cast

from ivr.callcenter.errors import IllegalTransition

__all__ = ["Agent", "AgentBoard", "AgentState", "Pending"]

log = logging.getLogger(__name__)

Pending = Literal["pause", "logout"]


class AgentState(StrEnum):
    LOGGED_OUT = "logged_out"
    AVAILABLE = "available"
    RINGING = "ringing"  # offered a call, phone ringing
    BUSY = "busy"  # on a call
    WRAP_UP = "wrap_up"  # resting after a call until wrap_up_until
    PAUSED = "paused"  # logged in, takes no calls (pause_reason)


STAFFED = frozenset({AgentState.AVAILABLE, AgentState.RINGING, AgentState.BUSY, AgentState.WRAP_UP})
"""Logged in and not paused: the agents that will take calls (the estimator's divisor)."""


@dataclass(frozen=True)
class Agent:
    agent_id: str
    state: AgentState = AgentState.LOGGED_OUT
    since: datetime | None = None  # time of the last state change
    idle_since: datetime | None = None  # when it last became available
    wrap_up_until: datetime | None = None
    pause_reason: str | None = None
    offer_id: str | None = None  # ringing / busy: the offer ...
    entry_id: str | None = None  # ... the queue entry ...
    queue: str | None = None  # ... and the queue it came from
    answered_at: datetime | None = None
    pending: Pending | None = None  # pause / logout asked while ringing or busy
    pending_reason: str | None = None
    calls: int = 0  # calls answered since this record was created

    @property
    def logged_in(self) -> bool:
        return self.state is not AgentState.LOGGED_OUT

    @property
    def staffed(self) -> bool:
        return self.state in STAFFED

    def to_dict(self) -> dict[str, Any]:
        return {
            "agent_id": self.agent_id,
            "state": self.state.value,
            "since": _iso(self.since),
            "idle_since": _iso(self.idle_since),
            "wrap_up_until": _iso(self.wrap_up_until),
            "pause_reason": self.pause_reason,
            "offer_id": self.offer_id,
            "entry_id": self.entry_id,
            "queue": self.queue,
            "answered_at": _iso(self.answered_at),
            "pending": self.pending,
            "pending_reason": self.pending_reason,
            "calls": self.calls,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Agent:
        """Inverse of ``to_dict``; raises ``ValueError`` on malformed data."""
        try:
            agent_id = data["agent_id"]
            if not isinstance(agent_id, str) or not agent_id:
                raise ValueError(f"bad agent_id {agent_id!r}")
            pending = data.get("pending")
            if pending not in (None, "pause", "logout"):
                raise ValueError(f"bad pending {pending!r}")
            calls = data.get("calls", 0)
            if not isinstance(calls, int):
                raise ValueError(f"bad calls {calls!r}")
            return cls(
                agent_id=agent_id,
                state=AgentState(data["state"]),
                since=_dt(data.get("since")),
                idle_since=_dt(data.get("idle_since")),
                wrap_up_until=_dt(data.get("wrap_up_until")),
                pause_reason=_str(data.get("pause_reason")),
                offer_id=_str(data.get("offer_id")),
                entry_id=_str(data.get("entry_id")),
                queue=_str(data.get("queue")),
                answered_at=_dt(data.get("answered_at")),
                pending=cast("Pending | None", pending),
                pending_reason=_str(data.get("pending_reason")),
                calls=calls,
            )
        except KeyError as exc:
            raise ValueError(f"agent record lacks {exc.args[0]!r}") from None


class AgentBoard:
    """The state of every agent, keyed by login (PJSIP endpoint name)."""

    def __init__(self, agents: Iterable[Agent] = ()) -> None:
        self._agents: dict[str, Agent] = {a.agent_id: a for a in agents}
        self._changed: set[str] = set()

    # -- queries ---------------------------------------------------------------------------

    def get(self, agent_id: str) -> Agent:
        """The agent's record; an agent never seen is logged out."""
        return self._agents.get(agent_id) or Agent(agent_id)

    def state(self, agent_id: str) -> AgentState:
        return self.get(agent_id).state

    def __iter__(self) -> Iterator[Agent]:
        return iter(sorted(self._agents.values(), key=lambda a: a.agent_id))

    @property
    def has_changes(self) -> bool:
        return bool(self._changed)

    def mark_changed(self, agent_ids: Iterable[str]) -> None:
        """Marks records for the next ``drain_changes`` again (e.g. after a failed save)."""
        self._changed.update(a for a in agent_ids if a in self._agents)

    def drain_changes(self) -> list[Agent]:
        """Records changed since the last call (for persistence), in agent-id order."""
        changed, self._changed = self._changed, set()
        return [self.get(a) for a in sorted(changed)]

    # -- phone / API actions -----------------------------------------------------------------

    def login(self, agent_id: str, now: datetime) -> Agent:
        agent = self.get(agent_id)
        if agent.state is AgentState.LOGGED_OUT:
            return self._set(agent, now, "login", state=AgentState.AVAILABLE, idle_since=now)
        if agent.pending == "logout":
            return self._set(agent, now, "cancel pending logout", pending=None)
        log.info("agent %s: login while %s, nothing to do", agent_id, agent.state)
        return agent

    def logout(self, agent_id: str, now: datetime) -> Agent:
        agent = self.get(agent_id)
        match agent.state:
            case AgentState.LOGGED_OUT:
                log.info("agent %s: logout while logged out, nothing to do", agent_id)
                return agent
            case AgentState.RINGING | AgentState.BUSY:
                return self._set(agent, now, "logout (pending)", pending="logout")
            case _:
                return self._set(agent, now, "logout", **_cleared(AgentState.LOGGED_OUT))

    def pause(self, agent_id: str, now: datetime, reason: str = "") -> Agent:
        agent = self.get(agent_id)
        match agent.state:
            case AgentState.LOGGED_OUT:
                raise IllegalTransition(agent_id, agent.state, "pause")
            case AgentState.RINGING | AgentState.BUSY:
                return self._set(
                    agent,
                    now,
                    "pause (pending)",
                    pending="pause",
                    pending_reason=reason,
                )
            case _:
                return self._set(
                    agent, now, "pause", **_cleared(AgentState.PAUSED, pause_reason=reason)
                )

    def unpause(self, agent_id: str, now: datetime) -> Agent:
        agent = self.get(agent_id)
        match agent.state:
            case AgentState.LOGGED_OUT:
                raise IllegalTransition(agent_id, agent.state, "unpause")
            case AgentState.PAUSED:
                return self._set(
                    agent, now, "unpause", **_cleared(AgentState.AVAILABLE, idle_since=now)
                )
            case _ if agent.pending == "pause":
                return self._set(
                    agent, now, "cancel pending pause", pending=None, pending_reason=None
                )
            case _:
                log.info("agent %s: unpause while %s, nothing to do", agent_id, agent.state)
                return agent

    # -- call handling (driven by the queue engine) -------------------------------------------

    def offer(
        self, agent_id: str, now: datetime, *, offer_id: str, entry_id: str, queue: str
    ) -> Agent:
        """available -> ringing. Anything else raises: an agent never gets two calls."""
        agent = self._require(agent_id, AgentState.AVAILABLE, f"be offered {entry_id}")
        return self._set(
            agent,
            now,
            f"offered {entry_id} ({offer_id})",
            state=AgentState.RINGING,
            offer_id=offer_id,
            entry_id=entry_id,
            queue=queue,
        )

    def release(self, agent_id: str, now: datetime) -> Agent:
        """ringing -> available: the ring timed out or was withdrawn."""
        agent = self._require(agent_id, AgentState.RINGING, "be released")
        return self._become_available(agent, now, "released", idle_since=agent.idle_since)

    def answer(self, agent_id: str, now: datetime) -> Agent:
        """ringing -> busy."""
        agent = self._require(agent_id, AgentState.RINGING, "answer")
        return self._set(
            agent,
            now,
            f"answered {agent.entry_id}",
            state=AgentState.BUSY,
            answered_at=now,
            calls=agent.calls + 1,
        )

    def end_call(self, agent_id: str, now: datetime, wrap_up: float) -> Agent:
        """busy -> wrap_up until now + wrap_up (available at once when wrap_up <= 0)."""
        agent = self._require(agent_id, AgentState.BUSY, "end a call")
        if agent.pending is not None or wrap_up <= 0:
            return self._become_available(agent, now, "call ended", idle_since=now)
        return self._set(
            agent,
            now,
            f"call ended, wrap-up {wrap_up:g}s",
            **_cleared(
                AgentState.WRAP_UP,
                idle_since=agent.idle_since,
                wrap_up_until=now + timedelta(seconds=wrap_up),
            ),
        )

    def tick(self, now: datetime) -> list[Agent]:
        """Ends due wrap-ups; returns the agents that became available."""
        done: list[Agent] = []
        for agent in list(self):
            due = agent.wrap_up_until
            if agent.state is AgentState.WRAP_UP and due is not None and due <= now:
                # idle from the deadline, not from when the tick noticed it: deterministic
                done.append(
                    self._set(
                        agent, due, "wrap-up over", **_cleared(AgentState.AVAILABLE, idle_since=due)
                    )
                )
        return done

    # -- persistence ---------------------------------------------------------------------------

    def snapshot(self) -> list[dict[str, Any]]:
        return [a.to_dict() for a in self]

    @classmethod
    def restore(
        cls,
        records: Iterable[Mapping[str, Any]],
        now: datetime,
        *,
        still_busy: Collection[str] = (),
    ) -> AgentBoard:
        """A board from ``snapshot()`` records, after a controller restart.

        ``ringing`` agents become available (the ring died with the controller); ``busy``
        agents too unless listed in ``still_busy``; pending pause/logout then apply.
        """
        board = cls()
        moved: list[str] = []
        for record in records:
            agent = Agent.from_dict(record)
            board._agents[agent.agent_id] = agent
            if agent.state is AgentState.RINGING or (
                agent.state is AgentState.BUSY and agent.agent_id not in still_busy
            ):
                idle = agent.idle_since if agent.state is AgentState.RINGING else now
                board._become_available(agent, now, f"restored from {agent.state}", idle_since=idle)
                moved.append(agent.agent_id)
        # only the agents the restore moved need saving (their stored record is stale)
        board._changed = set(moved)
        return board

    # -- internals -----------------------------------------------------------------------------

    def _require(self, agent_id: str, state: AgentState, action: str) -> Agent:
        agent = self.get(agent_id)
        if agent.state is not state:
            log.warning("agent %s: refused to %s while %s", agent_id, action, agent.state)
            raise IllegalTransition(agent_id, agent.state, action)
        return agent

    def _become_available(
        self, agent: Agent, now: datetime, why: str, *, idle_since: datetime | None
    ) -> Agent:
        if agent.pending == "logout":
            return self._set(
                agent, now, f"{why}; pending logout", **_cleared(AgentState.LOGGED_OUT)
            )
        if agent.pending == "pause":
            return self._set(
                agent,
                now,
                f"{why}; pending pause",
                **_cleared(AgentState.PAUSED, pause_reason=agent.pending_reason or ""),
            )
        return self._set(
            agent, now, why, **_cleared(AgentState.AVAILABLE, idle_since=idle_since or now)
        )

    def _set(self, agent: Agent, now: datetime, why: str, **changes: Any) -> Agent:
        new = replace(agent, **changes)
        if new.state is not agent.state or new.since is None:
            new = replace(new, since=now)
        self._agents[new.agent_id] = new
        self._changed.add(new.agent_id)
        if new.state is agent.state:
            log.info("agent %s: %s (still %s)", new.agent_id, why, new.state)
        else:
            log.info("agent %s: %s -> %s (%s)", new.agent_id, agent.state, new.state, why)
        return new


def _cleared(state: AgentState, **extra: Any) -> dict[str, Any]:
    """The fields of a state that carries no call, no pause and nothing pending (+ extra)."""
    return {
        "state": state,
        "wrap_up_until": None,
        "pause_reason": None,
        "offer_id": None,
        "entry_id": None,
        "queue": None,
        "answered_at": None,
        "pending": None,
        "pending_reason": None,
        **extra,
    }


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def _dt(value: object) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return value
    if isinstance(value, str):
        return datetime.fromisoformat(value)
    raise ValueError(f"bad timestamp {value!r}")


def _str(value: object) -> str | None:
    if value is None or isinstance(value, str):
        return value
    raise ValueError(f"expected a string, got {value!r}")
