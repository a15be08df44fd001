"""Retries of idempotent ARI requests: which ones, how often, how long apart (issue 15)."""

from __future__ import annotations

import pytest

from ivr.ari.client import AriClient, pool_size
from ivr.ari.errors import (
    AriError,
    AriHttpError,
    AriTimedOut,
    AriUnavailable,
    ChannelGone,
)
from ivr.ari.retry import RetryPolicy, is_idempotent, retrying
from tests.unit.ari.sim_ari import PASSWORD, USER, SimAri


@pytest.mark.parametrize(
    ("method", "path", "idempotent"),
    [
        ("GET", "/channels", True),
        ("DELETE", "/channels/c1", True),
        ("DELETE", "/playbacks/p1", True),
        ("DELETE", "/channels/c1/moh", True),
        ("POST", "/channels/c1/answer", True),
        ("POST", "/channels/c1/continue", True),
        ("POST", "/asterisk/variable", True),
        ("POST", "/asterisk/variable/x", False),
        ("POST", "/channels/c1/play/p1", False),
        ("POST", "/channels/c1/record", False),
        ("POST", "/channels", False),
        ("POST", "/bridges/b1/addChannel", False),
        ("PUT", "/applications/linja/eventFilter", False),
    ],
)
def test_only_requests_safe_to_repeat_are_idempotent(
    method: str, path: str, idempotent: bool
) -> None:
    assert is_idempotent(method, path) is idempotent


def test_backoff_grows_exponentially_up_to_the_cap_with_full_jitter() -> None:
    policy = RetryPolicy(attempts=6, base=0.05, cap=0.3)
    assert [policy.delay(n, rand=lambda: 1.0) for n in range(1, 6)] == [
        0.05,
        0.1,
        0.2,
        0.3,
        0.3,
    ]
    assert policy.delay(3, rand=lambda: 0.0) == 0.0
    assert policy.delay(3, rand=lambda: 0.5) == pytest.approx(0.1)


class Flaky:
    """Fails with ``errors`` in turn, then answers ``"ok"``."""

    def __init__(self, *errors: AriError) -> None:
        self.errors = list(errors)
        self.tries = 0

    async def __call__(self) -> str:
        self.tries += 1
        if self.errors:
            raise self.errors.pop(0)
        return "ok"


async def _retry(send: Flaky, policy: RetryPolicy, slept: list[float]) -> str:
    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    retried: list[AriError] = []
    result = await retrying(send, policy, what="test", on_retry=retried.append, sleep=sleep)
    assert len(retried) == send.tries - 1
    return result


async def test_drops_and_5xx_are_retried_with_waits_within_the_backoff() -> None:
    send = Flaky(AriUnavailable("dropped"), AriHttpError(503, "DELETE", "/channels/c1"))
    slept: list[float] = []
    assert await _retry(send, RetryPolicy(attempts=4, base=0.05, cap=1.0), slept) == "ok"
    assert send.tries == 3
    assert len(slept) == 2
    assert 0 <= slept[0] <= 0.05 and 0 <= slept[1] <= 0.1


async def test_gives_up_after_the_last_attempt() -> None:
    send = Flaky(*(AriUnavailable(f"dropped {n}") for n in range(5)))
    with pytest.raises(AriUnavailable, match="dropped 2"):
        await _retry(send, RetryPolicy(attempts=3), [])
    assert send.tries == 3


@pytest.mark.parametrize(
    "error",
    [
        ChannelGone(404, "DELETE", "/channels/c1"),
        AriHttpError(400, "POST", "/channels/c1/continue"),
        AriTimedOut("timed out"),
    ],
)
async def test_answers_and_timeouts_are_not_retried(error: AriError) -> None:
    send = Flaky(error)
    with pytest.raises(type(error)):
        await _retry(send, RetryPolicy(attempts=4), [])
    assert send.tries == 1


async def test_client_retries_a_dropped_hangup_but_not_a_dropped_playback(sim: SimAri) -> None:
    sim.add_channel("c1")
    sim.drops["/ari/channels/c1"] = 2
    # Two drops: the pool sends a request once more on a fresh connection when a reused one
    # closes before any byte of the answer (ivr.ari.http1); the client itself never resends it.
    sim.drops["/ari/channels/c1/play/p1"] = 2
    retried: list[str] = []

    class Observer:
        def request_done(self, method: str, outcome: str, seconds: float) -> None:
            pass

        def request_retried(self, method: str) -> None:
            retried.append(method)

    async with AriClient(sim.base_url, USER, PASSWORD, observer=Observer()) as ari:
        await ari.request("DELETE", "/channels/c1")
        with pytest.raises(AriUnavailable):
            await ari.request("POST", "/channels/c1/play/p1", params={"media": "sound:x"})
    paths = [s.url.split("?")[0] for s in sim.seen]
    assert paths.count("/ari/channels/c1") == 3
    assert paths.count("/ari/channels/c1/play/p1") == 2
    assert retried and set(retried) == {"DELETE"}
    assert "c1" not in sim.channels


def test_the_pool_stays_below_what_asterisk_accepts() -> None:
    assert pool_size(200, 8) == 192
    assert pool_size(8, 8) == 1
