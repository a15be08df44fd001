"""Estimated wait of a queue entry, from the queue's recent service (talk) times.

Inputs, all recomputed on every ask (never frozen at entry):

    T        mean of the queue's last ``window`` service times (``default`` with no history)
    W        the queue's wrap-up; C = T + W is what one call costs an agent
    p        the entry's position (1 = head; live and callback entries ahead both count)
    free_in  one value per staffed agent of the queue (logged in, not paused): seconds until
             it can take the next entry --
               available or ringing   0 (a ring serves an entry ahead, or fails and frees it)
               wrap_up                the rest of its wrap-up
               busy                   max(T - talked so far, T / 10) + W
                                      (a call past the mean is assumed nearly done)

The formula: the p entries up to and including this one are taken in order, each by the agent
free first, each keeping that agent C seconds::

    wait(p) = start of the p-th entry
            = the p-th smallest element of the multiset { free_in[a] + k * C : a, k >= 0 }

and None when no agent is staffed. With n agents all free at 0 this is ``(p-1) // n * C``;
with all busy at the start of a call, about ``p * C / n``. So the estimate falls as the line
moves (a lower p: an entry ahead left or was answered early), as calls in progress go on
(free_in shrinks with time), and follows T as service times are recorded. When the head is
answered, the entry behind it keeps its estimate at that instant: the ringing agent was
already counted as serving the head.
"""

from __future__ import annotations

import heapq
from collections import deque
from collections.abc import Iterable, Sequence

__all__ = [
    "DEFAULT_SERVICE_TIME",
    "DEFAULT_WINDOW",
    "ServiceTimes",
    "busy_remaining",
    "estimate_wait",
]

DEFAULT_WINDOW = 20
DEFAULT_SERVICE_TIME = 120.0


class ServiceTimes:
    """The rolling window of a queue's last ``window`` service times, in seconds."""

    def __init__(
        self,
        window: int = DEFAULT_WINDOW,
        default: float = DEFAULT_SERVICE_TIME,
        history: Iterable[float] = (),
    ) -> None:
        if window < 1:
            raise ValueError("window must be at least 1")
        if default <= 0:
            raise ValueError("default service time must be positive")
        self.default = default
        self._times: deque[float] = deque(maxlen=window)
        for seconds in history:
            self.record(seconds)

    def record(self, seconds: float) -> None:
        """Adds one handled call's talk time; negative values are clamped to 0."""
        self._times.append(max(0.0, float(seconds)))

    @property
    def mean(self) -> float:
        """T of the formula: the window's mean, or the default with no history (or all 0)."""
        total = sum(self._times)
        return total / len(self._times) if total > 0 else self.default

    def __len__(self) -> int:
        return len(self._times)

    def values(self) -> list[float]:
        """Oldest first; for snapshots."""
        return list(self._times)


def estimate_wait(position: int, free_in: Sequence[float], cycle: float) -> float | None:
    """The module docstring's formula: seconds until an agent takes the entry, or None."""
    if position < 1:
        raise ValueError("position is 1-based")
    if not free_in:
        return None
    heap = [max(0.0, f) for f in free_in]
    heapq.heapify(heap)
    for _ in range(position - 1):
        heapq.heapreplace(heap, heap[0] + cycle)
    return heap[0]


def busy_remaining(mean_service: float, talked: float) -> float:
    """A busy agent's expected remaining talk time (before its wrap-up)."""
    return max(mean_service - talked, mean_service / 10)
