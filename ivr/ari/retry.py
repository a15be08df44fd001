"""Which ARI requests may be sent again, and how long to wait between tries.

A request that fails with a dropped connection (:class:`AriUnavailable`, not a timeout) or
a 5xx may or may not have reached Asterisk. Sending it again is safe only when doing it
twice has the effect of doing it once:

- reads (``GET``);
- ``DELETE`` of a resource (hang-up, stop playback, stop music on hold, ...): the second
  answers 404, which the callers already take as "already gone";
- ``POST /channels/{id}/answer`` (answering an answered channel changes nothing) and
  ``POST /channels/{id}/continue`` (the second finds the channel out of Stasis: 409/412,
  which :class:`~ivr.ari.call.Call` takes as "gone");
- ``POST /asterisk/variable`` (a global variable set to the same value twice).

Anything else (starting a playback, a recording, an originate) is tried once: a failure
goes up to the flow, and a flow that dies leaves its channel to the reconciler
(:mod:`ivr.ari.reconciler`).

The backoff is exponential with full jitter (a wait drawn from ``[0, min(max, base·2^n)]``)
so a burst of failed requests does not come back in one wave.
"""

from __future__ import annotations

import asyncio
import logging
import random
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

from ivr.ari.errors import AriError, AriHttpError, AriTimedOut, AriUnavailable

__all__ = ["RetryPolicy", "is_idempotent", "is_transient", "retrying", "sent_as_allowed"]

log = logging.getLogger(__name__)

T = TypeVar("T")

_IDEMPOTENT_POST = re.compile(r"^(?:/channels/[^/]+/(?:answer|continue)|/asterisk/variable)$")


def is_idempotent(method: str, path: str) -> bool:
    """Whether ``method path`` may be sent twice (see the module docstring)."""
    method = method.upper()
    if method in ("GET", "HEAD", "DELETE"):
        return True
    return method == "POST" and _IDEMPOTENT_POST.match(path) is not None


def is_transient(exc: AriError) -> bool:
    """A failure worth a retry: a dropped or refused connection, or a server-side error
    (5xx). A timeout is not: the request may still be running, and Asterisk is busy."""
    if isinstance(exc, AriTimedOut):
        return False
    if isinstance(exc, AriUnavailable):
        return True
    return isinstance(exc, AriHttpError) and exc.status >= 500


@dataclass(frozen=True)
class RetryPolicy:
    """``attempts`` tries in all; before try n+1 wait up to ``min(cap, base * 2**n)``."""

    attempts: int = 4
    base: float = 0.05
    cap: float = 1.0

    def delay(self, retry: int, rand: Callable[[], float] = random.random) -> float:
        """The wait before retry number ``retry`` (1 = the first retry)."""
        return rand() * min(self.cap, self.base * 2.0 ** (retry - 1))


async def retrying(
    send: Callable[[], Awaitable[T]],
    policy: RetryPolicy,
    *,
    what: str,
    on_retry: Callable[[AriError], None] = lambda exc: None,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> T:
    """``await send()``, again on a transient failure, at most ``policy.attempts`` times."""
    retry = 0
    while True:
        try:
            return await send()
        except AriError as exc:
            retry += 1
            if retry >= policy.attempts or not is_transient(exc):
                if retry > 1:
                    log.warning("%s: giving up after %d tries: %s", what, retry, exc)
                raise
            on_retry(exc)
            delay = policy.delay(retry)
            log.debug("%s: try %d failed (%s); again in %.0f ms", what, retry, exc, delay * 1000)
            await sleep(delay)


async def sent_as_allowed(
    send: Callable[[], Awaitable[T]],
    policy: RetryPolicy,
    method: str,
    path: str,
    *,
    on_retry: Callable[[AriError], None] = lambda exc: None,
) -> T:
    """``send()`` for ``method path``: with retries when the request is idempotent, once
    otherwise (the rule of both ARI transports, :mod:`ivr.ari.client` and
    :mod:`ivr.ari.wsrest`)."""
    if not is_idempotent(method, path):
        return await send()
    return await retrying(send, policy, what=f"ARI {method} {path}", on_retry=on_retry)
