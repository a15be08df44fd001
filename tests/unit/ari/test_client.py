"""AriClient against the simulated ARI server."""

from __future__ import annotations

import asyncio
import base64
import logging
import socket
import time

import pytest

from ivr.ari.client import AriClient, encode_params
from ivr.ari.errors import (
    AriError,
    AriHttpError,
    AriUnavailable,
    ChannelGone,
    NotInStasis,
)
from ivr.ari.retry import RetryPolicy
from tests.unit.ari.sim_ari import PASSWORD, USER, SimAri

AUTH_TOKEN = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()


def _assert_no_secret(text: str) -> None:
    assert PASSWORD not in text
    assert AUTH_TOKEN not in text
    assert "api_key" not in text


async def test_answer_and_play_with_client_chosen_id(sim: SimAri, client: AriClient) -> None:
    sim.add_channel("c1")

    assert await client.request("POST", "/channels/c1/answer") is None
    body = await client.request(
        "POST",
        "/channels/c1/play/pb-42",
        params={"media": "sound:welcome,sound:menu", "lang": "fi"},
    )

    assert body["id"] == "pb-42"
    assert body["target_uri"] == "channel:c1"
    assert body["media_uri"] == "sound:welcome,sound:menu"
    assert sim.channels["c1"]["state"] == "Up"
    assert [s.url for s in sim.seen] == [
        "/ari/channels/c1/answer",
        "/ari/channels/c1/play/pb-42?media=sound:welcome,sound:menu&lang=fi",
    ]
    assert all(s.authorization == f"Basic {AUTH_TOKEN}" for s in sim.seen)
    assert await client.request("GET", "/playbacks/pb-42") == body


def test_params_encode_booleans_as_ari_wants() -> None:
    assert encode_params({"beep": True, "x": False, "n": 3, "s": "a"}) == {
        "beep": "true",
        "x": "false",
        "n": "3",
        "s": "a",
    }


async def test_bool_params_reach_the_server_lowercase(sim: SimAri, client: AriClient) -> None:
    await client.request("GET", "/channels", params={"beep": True, "quiet": False})
    assert sim.seen[-1].url == "/ari/channels?beep=true&quiet=false"


async def test_404_is_channel_gone(sim: SimAri, client: AriClient) -> None:
    with pytest.raises(ChannelGone) as info:
        await client.request("POST", "/channels/nope/answer")
    err = info.value
    assert (err.status, err.method, err.path) == (404, "POST", "/channels/nope/answer")
    assert "Channel not found" in str(err)


@pytest.mark.parametrize("status", [409, 412])
async def test_409_and_412_are_not_in_stasis(sim: SimAri, client: AriClient, status: int) -> None:
    sim.add_channel("c1")
    sim.status_override["/ari/channels/c1/answer"] = (status, {"message": "not in Stasis"})
    with pytest.raises(NotInStasis) as info:
        await client.request("POST", "/channels/c1/answer")
    assert info.value.status == status
    assert isinstance(info.value, AriHttpError)


async def test_other_status_is_plain_http_error(sim: SimAri, client: AriClient) -> None:
    sim.status_override["/ari/channels"] = (500, {"message": "boom"})
    with pytest.raises(AriHttpError) as info:
        await client.request("GET", "/channels")
    assert type(info.value) is AriHttpError
    assert info.value.status == 500


async def test_no_credentials_in_urls_errors_or_logs(
    sim: SimAri, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    # A buggy server echoing secrets back in its error body must not leak them either.
    sim.status_override["/ari/channels/echo"] = (
        500,
        {"message": f"bad request from {USER}:{PASSWORD} Authorization: Basic {AUTH_TOKEN}"},
    )
    errors: list[AriError] = []
    async with AriClient(sim.base_url, USER, PASSWORD, retry=RetryPolicy(attempts=1)) as good:
        sim.add_channel("c1")
        await good.request("POST", "/channels/c1/answer", params={"x": True})
        for path in ("/channels/echo", "/channels/missing"):
            with pytest.raises(AriError) as info:
                await good.request("GET", path)
            errors.append(info.value)
    async with AriClient(sim.base_url, USER, "wrong-password") as bad:
        with pytest.raises(AriHttpError) as info401:
            await bad.request("GET", "/channels")
    assert info401.value.status == 401
    errors.append(info401.value)

    assert len(sim.seen) == 4
    for seen in sim.seen:
        _assert_no_secret(seen.url)
        assert USER not in seen.url
    for err in errors:
        _assert_no_secret(str(err))
        _assert_no_secret(repr(err))
    assert caplog.records, "expected the client to log its requests at DEBUG"
    for record in caplog.records:
        _assert_no_secret(record.getMessage())


async def test_slow_channel_does_not_delay_another_call(sim: SimAri, client: AriClient) -> None:
    sim.add_channel("slow")
    sim.add_channel("fast")
    sim.delays["slow"] = 1.0

    slow = asyncio.create_task(client.request("POST", "/channels/slow/answer"))
    await asyncio.sleep(0.05)  # the slow request is in flight on its connection
    for _ in range(5):
        await client.request("POST", "/channels/fast/answer")
    # All five answered while the slow one (1 s on the server) is still in flight: they did
    # not queue behind it.
    assert not slow.done()
    await slow


async def test_hundreds_of_concurrent_requests(sim: SimAri) -> None:
    for i in range(300):
        sim.add_channel(f"c{i}")
        sim.delays[f"c{i}"] = 0.2
    # A generous timeout: on a loaded machine (CI runs 4 test workers on 2 cores) the 300
    # requests and the simulated server share one event loop; speed is not the point here.
    async with AriClient(sim.base_url, USER, PASSWORD, request_timeout=60.0) as client:
        await asyncio.gather(
            *(client.request("POST", f"/channels/c{i}/answer") for i in range(300))
        )
    # 300 requests that each take 0.2 s on the server run side by side over the pool of up to
    # 256 connections, not one after another (the server sees them in flight together; how
    # fast that is depends on the machine, so it is not asserted here).
    assert 50 <= sim.most_in_flight <= 256
    assert all(sim.channels[f"c{i}"]["state"] == "Up" for i in range(300))


async def test_request_timeout_is_ari_unavailable(sim: SimAri) -> None:
    sim.add_channel("c1")
    sim.delays["c1"] = 1.0
    async with AriClient(sim.base_url, USER, PASSWORD, request_timeout=0.1) as ari:
        started = time.monotonic()
        with pytest.raises(AriUnavailable) as info:
            await ari.request("POST", "/channels/c1/answer")
    assert time.monotonic() - started < 0.5
    assert "timed out" in str(info.value)


async def test_connection_refused_is_ari_unavailable() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    async with AriClient(f"http://127.0.0.1:{port}/ari", USER, PASSWORD) as ari:
        with pytest.raises(AriUnavailable) as info:
            await ari.request("GET", "/channels")
    _assert_no_secret(str(info.value))


async def test_closed_client_refuses_requests(sim: SimAri) -> None:
    ari = AriClient(sim.base_url, USER, PASSWORD)
    await ari.close()
    with pytest.raises(AriError):
        await ari.request("GET", "/channels")
