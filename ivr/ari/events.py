"""EventStream: ARI's event websocket, kept connected.

The socket is :mod:`ivr.ari.wsproto`'s lean client: each message is handled in the read that
brought it, with no task wake-up between. It reads JSON events and hands each to a
synchronous ``on_event`` callback (which must not block); ``skip`` may drop an event from its
raw text before it is decoded. When the socket drops it reconnects with exponential backoff
and jitter, logging one warning per outage (not one per attempt). After every successful
(re)connect it starts ``on_connected(reconnected)`` as a task so the application can resync
state that changed while no events were arriving.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

import orjson

from ivr.ari.client import Redactor, basic_auth_header
from ivr.ari.errors import AriUnavailable
from ivr.ari.wsproto import HandshakeRefused, ProtocolViolation, WsProtocol, connect
from ivr.ari.wsrest import REPLY_PREFIX

__all__ = ["EventStream", "events_url"]

log = logging.getLogger(__name__)

OnEvent = Callable[[dict[str, Any]], None]
OnConnected = Callable[[bool], Awaitable[None]]
Skip = Callable[[str], bool]  # True: an event nobody needs, known from its raw text


class Replies(Protocol):
    """Who takes the answers to REST requests sent on the socket (:class:`~ivr.ari.wsrest.
    WsRest`)."""

    def on_reply(self, text: str) -> None: ...

    def on_closed(self) -> None: ...


def events_url(base_url: str) -> str:
    """``http://host:8088/ari`` -> ``ws://host:8088/ari/events`` (ws/wss URLs kept)."""
    url = base_url.rstrip("/")
    if url.startswith("http://"):
        url = "ws://" + url.removeprefix("http://")
    elif url.startswith("https://"):
        url = "wss://" + url.removeprefix("https://")
    if not url.endswith("/events"):
        url += "/events"
    return url


class EventStream:
    """One ARI application's event websocket with reconnect.

    ``run()`` runs until ``stop()``. ``stable_after`` is how long a connection must have
    been up for its loss to count as a new outage (backoff reset to ``backoff_initial``);
    a connection that drops sooner continues the current outage so a flapping server does
    not make us reconnect and log in a tight loop.
    """

    def __init__(
        self,
        base_url: str,
        username: str,
        password: str,
        app: str,
        *,
        on_event: OnEvent,
        on_connected: OnConnected | None = None,
        skip: Skip | None = None,
        heartbeat: float = 10.0,
        connect_timeout: float = 5.0,
        backoff_initial: float = 0.2,
        backoff_max: float = 5.0,
        stable_after: float = 2.0,
    ) -> None:
        self._url = events_url(base_url)
        self._app = app
        self._auth = basic_auth_header(username, password)
        self._redact = Redactor(password, self._auth, self._auth.removeprefix("Basic "))
        self._on_event = on_event
        self._on_connected = on_connected
        self._skip = skip
        self._heartbeat = heartbeat
        self._connect_timeout = connect_timeout
        self._backoff_initial = backoff_initial
        self._backoff_max = backoff_max
        self._stable_after = stable_after

        self._stopping = asyncio.Event()
        self._connected = asyncio.Event()
        self._done = asyncio.Event()
        self._ws: WsProtocol | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._ever_connected = False
        self._running = False
        self.connect_count = 0
        self.replies: Replies | None = None  # answers to requests sent with send_now()

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    async def wait_connected(
        self,
        timeout: float | None = None,  # noqa: ASYNC109 - returns False instead of raising
    ) -> bool:
        """Wait until the socket is up; False if ``timeout`` passed first."""
        try:
            async with asyncio.timeout(timeout):
                await self._connected.wait()
        except TimeoutError:
            return False
        return True

    async def run(self) -> None:
        if self._running:
            raise RuntimeError("EventStream.run() is already running")
        self._running = True
        self._done.clear()
        backoff = self._backoff_initial
        outage_since: float | None = None
        attempts = 0
        try:
            while not self._stopping.is_set():
                up_since: float | None = None
                reason = "closed"
                try:
                    ws = await connect(
                        self._url,
                        params={"app": self._app, "subscribeAll": "false"},
                        headers={"Authorization": self._auth},
                        on_text=self._dispatch,
                        on_error=self._handler_failed,
                        heartbeat=self._heartbeat,
                        timeout=self._connect_timeout,
                    )
                    up_since = time.monotonic()
                    self._ws = ws
                    self._on_up(outage_since, attempts)
                    outage_since, attempts = None, 0
                    if self._stopping.is_set():
                        ws.close()
                        break
                    reason = await ws.closed
                except HandshakeRefused as exc:
                    reason = f"handshake refused: HTTP {exc.status}"
                except (OSError, TimeoutError, ProtocolViolation) as exc:
                    reason = self._redact(f"{type(exc).__name__}: {exc}".rstrip(": "))
                finally:
                    if self._ws is not None:
                        self._ws.close()
                    self._ws = None
                    self._connected.clear()
                    if self.replies is not None:
                        self.replies.on_closed()
                if self._stopping.is_set():
                    break

                now = time.monotonic()
                if up_since is not None and now - up_since >= self._stable_after:
                    backoff = self._backoff_initial
                attempts += 1
                if outage_since is None:
                    outage_since = now
                    log.warning(
                        "ARI event stream for app %s lost (%s); reconnecting",
                        self._app,
                        reason,
                    )
                else:
                    log.debug(
                        "ARI event stream for app %s: attempt %d failed (%s)",
                        self._app,
                        attempts,
                        reason,
                    )
                delay = backoff * random.uniform(0.5, 1.0)
                backoff = min(backoff * 2, self._backoff_max)
                await self._sleep(delay)
        finally:
            self._connected.clear()
            self._running = False
            for task in list(self._tasks):
                task.cancel()
            if self._tasks:
                await asyncio.gather(*self._tasks, return_exceptions=True)
            self._done.set()
            log.info("ARI event stream for app %s stopped", self._app)

    def _on_up(self, outage_since: float | None, attempts: int) -> None:
        reconnected = self._ever_connected
        self._ever_connected = True
        self.connect_count += 1
        self._connected.set()
        if outage_since is not None:
            log.info(
                "ARI event stream for app %s reconnected after %.1f s (%d failed attempts)",
                self._app,
                time.monotonic() - outage_since,
                attempts,
            )
        else:
            log.info("ARI event stream for app %s connected", self._app)
        if self._on_connected is not None:
            task = asyncio.create_task(self._run_on_connected(reconnected))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _run_on_connected(self, reconnected: bool) -> None:
        assert self._on_connected is not None
        try:
            await self._on_connected(reconnected)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("ARI event stream for app %s: on_connected callback failed", self._app)

    def _handler_failed(self, exc: BaseException) -> None:
        log.error("ARI event stream: handling a message failed (%s)", type(exc).__name__)

    def send_now(self, text: str) -> None:
        """Write one text message on the socket at once (a REST request:
        :mod:`ivr.ari.wsrest`); :class:`AriUnavailable` when it is not connected."""
        ws = self._ws
        if ws is None or not self._connected.is_set() or not ws.send_text(text):
            raise AriUnavailable("ARI event websocket not connected")

    def _dispatch(self, text: str) -> None:
        replies = self.replies
        if replies is not None and text.startswith(REPLY_PREFIX):
            replies.on_reply(text)
            return
        if self._skip is not None and self._skip(text):
            return
        try:
            event = orjson.loads(text)  # several times cheaper than json.loads
        except ValueError:
            log.warning("ARI event stream: dropping non-JSON message (%d bytes)", len(text))
            return
        if not isinstance(event, dict):
            log.warning("ARI event stream: dropping non-object message")
            return
        if event.get("type") == "RESTResponse":  # another layout than REPLY_PREFIX
            if replies is not None:
                replies.on_reply(text)
            return
        try:
            self._on_event(event)
        except Exception:
            log.exception("ARI event handler failed for %s event", event.get("type"))

    async def _sleep(self, delay: float) -> None:
        try:
            async with asyncio.timeout(delay):
                await self._stopping.wait()
        except TimeoutError:
            pass

    async def stop(self) -> None:
        """Ask ``run()`` to finish, close the socket and wait (briefly) until it has."""
        self._stopping.set()
        ws = self._ws
        if ws is not None:
            ws.close()
        if self._running:
            try:
                async with asyncio.timeout(self._connect_timeout + 1):
                    await self._done.wait()
            except TimeoutError:
                log.warning("ARI event stream for app %s did not stop in time", self._app)
