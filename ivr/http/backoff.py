"""Exponential backoff after failed password checks, per key (a login, a client address).

After ``free`` failures in a row, each further failure makes the key wait
``base * 2**(n - free - 1)`` seconds (at most ``cap``) before it may try again; a success
clears the key. Keys live only in memory: at most ``size`` of them (the least recently
failed go first) and each is forgotten ``forget`` seconds after its last failure. Client
addresses are personal data: they are never written anywhere else.
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass


@dataclass
class _Failures:
    count: int
    last: float
    until: float


class Backoff:
    def __init__(
        self,
        *,
        base: float = 1.0,
        cap: float = 300.0,
        free: int = 3,
        size: int = 10_000,
        forget: float = 900.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._base, self._cap, self._free = base, cap, free
        self._size, self._forget, self._clock = size, max(forget, cap), clock
        self._keys: OrderedDict[str, _Failures] = OrderedDict()

    def __len__(self) -> int:
        return len(self._keys)

    def wait(self, key: str) -> float:
        """Seconds ``key`` must still wait (0: it may try now)."""
        entry = self._keys.get(key)
        if entry is None:
            return 0.0
        now = self._clock()
        if now - entry.last >= self._forget:
            del self._keys[key]
            return 0.0
        return max(0.0, entry.until - now)

    def failed(self, key: str) -> float:
        """Count a failure; the seconds ``key`` must now wait."""
        now = self._clock()
        entry = self._keys.pop(key, None)
        count = 1 if entry is None or now - entry.last >= self._forget else entry.count + 1
        over = count - self._free
        delay = 0.0 if over <= 0 else min(self._cap, self._base * 2.0 ** min(over - 1, 60))
        self._keys[key] = _Failures(count, now, now + delay)
        while len(self._keys) > self._size:
            self._keys.popitem(last=False)
        return delay

    def succeeded(self, key: str) -> None:
        self._keys.pop(key, None)


def retry_after(seconds: float) -> str:
    """A ``Retry-After`` value: whole seconds, at least 1."""
    return str(max(1, math.ceil(seconds)))
