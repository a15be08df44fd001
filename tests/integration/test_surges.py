"""Surges (issue 15): ARI dropping requests leaves no channel behind, and beyond the
concurrency cap callers hear the dialplan fallback instead of silence or endless ringing.

Real SIPp calls into the real Asterisk. The first test puts a proxy in front of Asterisk's
HTTP port that drops ARI requests (every 5th, and all of them for 2.5 s in the middle of
the calls, as Asterisk past its ``sessionlimit`` does). The second runs the controller with
a cap of one flow and counts the RTP packets every shed caller receives.
"""

from __future__ import annotations

import asyncio
import re
import socket
import threading
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from ivr.config import Settings
from storage.db import short_lived_sessions
from storage.domain import Actor
from storage.errors import NotFound
from storage.events import Role
from storage.repositories.users import UserRepository
from tests.support import Controller, ari_get, basic_auth, run_sipp, wait_for

pytestmark = pytest.mark.integration

RECONCILE_S = 1.0
_METHODS = (b"GET ", b"POST ", b"PUT ", b"DELETE ", b"HEAD ")


class DroppingProxy:
    """A TCP proxy to Asterisk's HTTP port that closes the connection instead of passing an
    ARI REST request on: every ``every``-th one, and all while :attr:`blackout` is set. The
    event websocket (``GET /ari/events``) passes untouched."""

    def __init__(self, upstream: int, every: int) -> None:
        self.upstream = upstream
        self.every = every
        self.blackout = False
        self.requests = 0
        self.dropped = 0
        self.loop = asyncio.new_event_loop()
        self.port = 0
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)

    def __enter__(self) -> DroppingProxy:
        self._thread.start()
        server = asyncio.run_coroutine_threadsafe(
            asyncio.start_server(self._client, "127.0.0.1", 0), self.loop
        ).result(5)
        self.port = server.sockets[0].getsockname()[1]
        return self

    def __exit__(self, *exc: object) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(5)

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.upstream)

        async def back() -> None:
            while data := await up_reader.read(65536):
                writer.write(data)
                await writer.drain()
            writer.close()

        task = asyncio.create_task(back())
        websocket = False
        try:
            while data := await reader.read(65536):
                if not websocket and data.startswith(_METHODS):
                    if data.startswith(b"GET /ari/events"):
                        websocket = True
                    else:
                        self.requests += 1
                        if self.blackout or self.requests % self.every == 0:
                            self.dropped += 1
                            break
                up_writer.write(data)
                await up_writer.drain()
        except ConnectionError:
            pass
        finally:
            task.cancel()
            up_writer.close()
            writer.close()


class RtpCounter:
    """A UDP port for SIPp's SDP (``-key rtp_port``): RTP packets received, by sender."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        self.port: int = self.sock.getsockname()[1]
        self.packets: Counter[int] = Counter()  # by sender port
        self.by_ssrc: Counter[tuple[int, bytes]] = Counter()  # by (sender port, SSRC)
        self._stop = False
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop:
            try:
                data, (_, port) = self.sock.recvfrom(2048)
            except TimeoutError:
                continue
            self.packets[port] += 1
            self.by_ssrc[(port, data[8:12])] += 1

    def close(self) -> None:
        self._stop = True
        self._thread.join(2)
        self.sock.close()

    def streams(self, at_least: int) -> int:
        """Calls whose stream sent ``at_least`` packets. A call is an Asterisk RTP port, or
        one SSRC of a port a later call reused (short calls free their ports quickly); one
        call's SSRC may also change (its playback moved from a flow to the dialplan), so a
        port counts at least once when its packets together reach ``at_least``."""
        return sum(
            max(
                int(total >= at_least),
                sum(1 for (p, _), n in self.by_ssrc.items() if p == port and n >= at_least),
            )
            for port, total in self.packets.items()
        )


@pytest.fixture
def rtp() -> Iterator[RtpCounter]:
    counter = RtpCounter()
    yield counter
    counter.close()


async def _ensure_operator(settings: Settings, login: str, password: str) -> None:
    async with short_lived_sessions(settings, owner=True) as sessions:
        users = UserRepository(sessions)
        try:
            user = await users.by_login(login)
        except NotFound:
            user = await users.create(
                tenant_id=None,
                name="Metrics scraper",
                login=login,
                password=password,
                role=Role.OPERATOR,
                actor=Actor.system("tests"),
            )
        await users.set_password(user.id, password, Actor.system("tests"))


def _metrics(ctl: Controller, settings: Settings) -> str:
    import urllib.request

    asyncio.run(_ensure_operator(settings, "metrics-scraper", "scraper-password-1"))
    req = urllib.request.Request(
        ctl.url("/metrics"), headers=basic_auth("metrics-scraper", "scraper-password-1")
    )
    with urllib.request.urlopen(req, timeout=10) as resp:
        assert resp.headers["Content-Type"].startswith("text/plain")
        return str(resp.read().decode())


def _value(metrics: str, name: str) -> float:
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in metrics.splitlines()
        if line.startswith(name) and not line.startswith("#")
    )


def test_ari_dropping_requests_leaves_no_channel(
    stack: Settings, no_live_channels: None, tmp_path: Path, rtp: RtpCounter
) -> None:
    calls = 30
    with DroppingProxy(stack.ari_port, every=5) as proxy:
        ctl = Controller(
            stack,
            tmp_path / "controller.log",
            env={
                "LINJA_ARI_PORT": str(proxy.port),
                "LINJA_RECONCILE_INTERVAL": str(RECONCILE_S),
                # Every request over HTTP, where the proxy drops them: the fast path's
                # continue would otherwise go over the event websocket (ivr/ari/wsrest.py),
                # which the proxy passes as one connection and does not cut.
                "LINJA_ARI_WS_REQUESTS": "false",
                # and every bulletin call to the controller, none served by the dialplan alone
                "LINJA_BULLETIN_DIRECT": "false",
            },
        )
        ctl.start()
        try:

            def blackout() -> None:
                # Long enough for a flow to exhaust the retries of its answer and of its
                # fallback (well under a second each): those channels are the reconciler's.
                time.sleep(1.0)
                proxy.blackout = True
                time.sleep(2.5)
                proxy.blackout = False

            threading.Thread(target=blackout, daemon=True).start()
            # Each caller listens 1.5 s of the bulletin (through the flow or, where its flow
            # failed on ARI, from the dialplan fallback), then hangs up.
            result = run_sipp(
                "caller-listens-then-hangs-up.xml", tmp_path, service="100", calls=calls,
                rate=10, settings=stack, extra=["-d", "1500", "-key", "rtp_port", str(rtp.port)],
            )  # fmt: skip
            assert result.returncode == 0, result.output + result.errors + ctl.log()[-3000:]
            # Nothing is left in Stasis (or anywhere) once the reconciler has had its passes.
            wait_for("no channels", lambda: ari_get(stack, "/channels") == [], 2 * RECONCILE_S + 2)
            log = ctl.log()
        finally:
            ctl.stop()
    assert proxy.dropped >= 10, (proxy.dropped, proxy.requests)
    # Every caller was answered and heard audio: 1.5 s is 75 packets of 20 ms, less what a
    # fallback after a failed request costs and what a loaded box does not send.
    # every caller heard audio (a few packets: on a loaded CI box a stream may start late)
    assert rtp.streams(at_least=3) == calls, rtp.packets
    assert re.search(r"channel=\S+ call flow failed on ARI: ARI POST", log), log[-4000:]
    assert "fallback failed (left to the reconciler)" in log, log[-4000:]
    assert "reconciler: continue (its flow failed on ARI)" in log, log[-4000:]


def test_beyond_the_cap_callers_hear_the_fallback_or_the_busy_prompt(
    stack: Settings, no_live_channels: None, tmp_path: Path, rtp: RtpCounter
) -> None:
    # Bulletin calls come to the controller (none served by the dialplan alone), to be shed.
    ctl = Controller(
        stack,
        tmp_path / "controller.log",
        env={"LINJA_SHED_MAX_FLOWS": "1", "LINJA_BULLETIN_DIRECT": "false"},
    )
    ctl.start()
    busy_rtp = RtpCounter()
    try:
        busy_prompt = stack.in_root(stack.fallback_inner) / "busy-fi.wav"
        wait_for("the busy prompt rendered", busy_prompt.is_file, 20)
        with ThreadPoolExecutor(3) as pool:
            # One call center caller takes the only flow the cap allows ...
            first = pool.submit(
                run_sipp, "caller-listens-then-hangs-up.xml", tmp_path / "first", service="200",
                settings=stack, extra=["-d", "5000", "-key", "rtp_port", str(busy_rtp.port)],
            )  # fmt: skip
            wait_for("a flow running", lambda: ctl.get("/api/stats")["load"]["flows_running"] == 1)
            # ... so these are shed: bulletin callers get the pre-rendered bulletin, the call
            # center caller the "lines are busy" prompt, all from the dialplan.
            bulletins = pool.submit(
                run_sipp, "caller-listens-then-hangs-up.xml", tmp_path / "bulletins", calls=4,
                rate=20, settings=stack,
                extra=["-d", "1500", "-key", "rtp_port", str(rtp.port)],
            )  # fmt: skip
            busy = run_sipp(
                "caller-listens-then-hangs-up.xml", tmp_path / "busy", service="200",
                settings=stack, extra=["-d", "1500", "-key", "rtp_port", str(rtp.port)],
            )  # fmt: skip
            shed = bulletins.result()
            stats = ctl.get("/api/stats")
            first_result = first.result()
        metrics = _metrics(ctl, stack)
    finally:
        ctl.stop()
        busy_rtp.close()
    for result in (shed, busy, first_result):
        assert result.returncode == 0, result.output + result.errors
    assert stats["shed"] == {"announcement": 4, "menu": 1}, stats
    # The bulletin (4 callers) and the busy prompt reached them: 1.5 s is 75 packets, of
    # which a loaded box sends fewer.
    assert rtp.streams(at_least=30) == 5, rtp.packets
    assert busy_rtp.streams(at_least=150) == 1, busy_rtp.packets  # the menu, through a flow
    assert 'linja_calls_shed_total{flow="announcement",reason="flows"} 4.0' in metrics
    assert 'linja_calls_shed_total{flow="menu",reason="flows"} 1.0' in metrics
    assert 'linja_calls_started_total{flow="menu"} 1.0' in metrics
    assert _value(metrics, "linja_flows_in_flight") == 0
