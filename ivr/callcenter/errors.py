"""Errors of the call-center queue engine and agent board.

Exception tree::

    Exception
    └── CallCenterError            anything the queue engine refuses
        ├── IllegalTransition      an agent state change that is not allowed
        │                          (.agent .state .action), e.g. offering a call to a busy,
        │                          ringing or paused agent: an agent never gets two calls
        └── QueueError             about queues and their entries
            ├── UnknownQueue       no queue of that name is configured
            ├── UnknownEntry       the entry is not (or no longer) waiting in a queue
            ├── DuplicateEntry     an entry id that is already waiting
            ├── OfferGone          an answer for an offer that was withdrawn: the ring timed
            │                      out, the caller left, or another ring-all agent answered
            └── TicketClosed       waiting on a ticket whose entry already left the queue

All of them are domain errors raised by pure code; none wraps an I/O failure.
"""

from __future__ import annotations

__all__ = [
    "CallCenterError",
    "DuplicateEntry",
    "IllegalTransition",
    "OfferGone",
    "QueueError",
    "TicketClosed",
    "UnknownEntry",
    "UnknownQueue",
]


class CallCenterError(Exception):
    """Base class of the queue engine's errors."""


class IllegalTransition(CallCenterError):
    """An agent cannot do ``action`` in its current ``state``."""

    def __init__(self, agent: str, state: str, action: str) -> None:
        super().__init__(f"agent {agent!r} is {state}: cannot {action}")
        self.agent = agent
        self.state = state
        self.action = action


class QueueError(CallCenterError):
    """Base class of errors about queues and their entries."""


class UnknownQueue(QueueError):
    def __init__(self, queue: str) -> None:
        super().__init__(f"no queue named {queue!r}")
        self.queue = queue


class UnknownEntry(QueueError):
    def __init__(self, entry_id: str) -> None:
        super().__init__(f"entry {entry_id!r} is not waiting in any queue")
        self.entry_id = entry_id


class DuplicateEntry(QueueError):
    def __init__(self, entry_id: str) -> None:
        super().__init__(f"entry {entry_id!r} is already waiting")
        self.entry_id = entry_id


class OfferGone(QueueError):
    """The offer an agent answered is no longer current; hang up the agent's leg."""

    def __init__(self, offer_id: str, agent: str) -> None:
        super().__init__(f"offer {offer_id!r} to agent {agent!r} is no longer current")
        self.offer_id = offer_id
        self.agent = agent


class TicketClosed(QueueError):
    def __init__(self, entry_id: str) -> None:
        super().__init__(f"entry {entry_id!r} has left the queue; no more events")
        self.entry_id = entry_id
