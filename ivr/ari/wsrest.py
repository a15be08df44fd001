"""ARI requests over the event websocket (Asterisk 20.14 / 21.9 / 22.4 and later).

Asterisk takes a REST request as a websocket message (``{"type": "RESTRequest",
"request_id": ..., "method": ..., "uri": ...}``) on the socket that carries the
application's events, and answers with a ``RESTResponse`` message naming the same
``request_id``. A request then costs one small frame written on a socket that is already
open, and its answer arrives among the events, often in the same read: no connection from a
pool, no HTTP head to write or parse, no wake-up of its own.

Asterisk reads one websocket's requests one at a time, in the thread that serves the
socket, and an ARI handler that waits for the channel's Stasis thread (``answer``, starting
a playback) would hold up every request behind it. So this transport is meant for requests
Asterisk queues and answers at once, such as ``POST /channels/{id}/continue``: the
dispatcher's fast path (:mod:`ivr.flows.fastpath`) hands its bulletin calls back to the
dialplan through it. Everything else keeps the HTTP pool (:class:`~ivr.ari.client.AriClient`).

Failures keep the HTTP client's meaning (:mod:`ivr.ari.errors`): an error status becomes
the same :class:`~ivr.ari.errors.AriHttpError` subclass; a request whose socket closed before
its answer fails :class:`~ivr.ari.errors.AriUnavailable`; one unanswered for ``timeout``
seconds :class:`~ivr.ari.errors.AriTimedOut` (a sweep a quarter of the timeout apart, not a
timer a request). Idempotent requests are retried as by the HTTP client.

Requests go to ``fallback`` (the HTTP client) until :meth:`WsRest.probe` has seen one
answered on the socket after it (re)connected, and again from the moment it closes: an
Asterisk without REST over websocket, or an application event filter without
``RESTResponse`` (Asterisk filters the answers too), costs a probe, never a call.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from collections.abc import Callable
from typing import Any, Protocol
from urllib.parse import urlencode

import orjson

from ivr.ari.client import RequestObserver, encode_params
from ivr.ari.errors import AriError, AriTimedOut, AriUnavailable, http_error, short_detail
from ivr.ari.protocol import Answered, AriRest, Params
from ivr.ari.retry import RetryPolicy, sent_as_allowed

__all__ = ["REPLY_PREFIX", "ReplySocket", "WsRest"]

log = logging.getLogger(__name__)

_QUERIES_KEPT = 1024

# How Asterisk starts every answer (ari.conf ``pretty = no``, as shipped).
REPLY_PREFIX = '{"type":"RESTResponse",'


class ReplySocket(Protocol):
    """The event websocket as this transport needs it (:class:`~ivr.ari.events.EventStream`)."""

    @property
    def connected(self) -> bool: ...

    def send_now(self, text: str) -> None:
        """Write one text message at once; raises :class:`AriUnavailable` when the socket is
        down."""
        ...


class _Pending:
    __slots__ = ("answered", "future", "method", "path", "started")

    def __init__(
        self,
        future: asyncio.Future[tuple[int, str]] | None,
        method: str,
        path: str,
        started: float,
        answered: Answered | None = None,
    ) -> None:
        self.future = future  # an awaited request ...
        self.answered = answered  # ... or one sent with send_now
        self.method = method
        self.path = path
        self.started = started


class WsRest:
    """Implements :class:`~ivr.ari.protocol.AriRest` over a :class:`ReplySocket`.

    The socket's owner passes every ``RESTResponse`` text to :meth:`on_reply` and calls
    :meth:`on_closed` when the socket closes.
    """

    def __init__(
        self,
        socket: ReplySocket,
        fallback: AriRest,
        *,
        timeout: float = 10.0,
        retry: RetryPolicy | None = None,
        observer: RequestObserver | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._socket = socket
        self._fallback = fallback
        self._timeout = timeout
        self._retry = retry or RetryPolicy()
        self._observer = observer
        self._clock = clock
        self._ids = itertools.count(1)
        self._pending: dict[str, _Pending] = {}  # in the order sent: oldest first
        self._sweep: asyncio.TimerHandle | None = None
        self._ready = False  # the socket answered a probe since it connected
        self._queries: dict[tuple[tuple[str, str | int | bool], ...], str] = {}

    @property
    def ready(self) -> bool:
        """Whether requests go over the websocket (else over ``fallback``)."""
        return self._ready and self._socket.connected

    async def probe(self, timeout: float = 2.0) -> bool:  # noqa: ASYNC109 - False, not raise
        """Send ``GET /asterisk/ping`` on the socket; requests use it from the first answer
        on. Call after every (re)connect (after the event filter is set)."""
        self._ready = False
        try:
            async with asyncio.timeout(timeout):
                await self._send("GET", "/asterisk/ping", None, None)
        except (AriError, TimeoutError) as exc:
            log.warning(
                "ARI requests over the event websocket unanswered (%s); using HTTP only",
                type(exc).__name__,
            )
            return False
        self._ready = True
        log.info("ARI requests for the fast path go over the event websocket")
        return True

    @property
    def in_flight(self) -> int:
        """Requests sent over the socket and not answered yet."""
        return len(self._pending)

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: Params | None = None,
        json: Any = None,
    ) -> Any:
        if not path.startswith("/"):
            path = "/" + path
        if not self.ready:
            return await self._fallback.request(method, path, params=params, json=json)

        async def send() -> Any:
            if not self.ready:
                return await self._fallback.request(method, path, params=params, json=json)
            return await self._send(method, path, params, json)

        return await sent_as_allowed(
            send, self._retry, method, path, on_retry=self._retried(method)
        )

    def _retried(self, method: str) -> Callable[[AriError], None]:
        observer = self._observer
        if observer is None:
            return lambda _: None
        return lambda _: observer.request_retried(method)

    def _message(self, method: str, path: str, params: Params | None, json: Any) -> tuple[str, str]:
        rid = str(next(self._ids))
        uri = path[1:]
        if params:
            query = self._query(params)
            if query:
                uri = f"{uri}?{query}"
        message: dict[str, Any] = {
            "type": "RESTRequest",
            "request_id": rid,
            "method": method,
            "uri": uri,
        }
        if json is not None:
            message["content_type"] = "application/json"
            message["message_body"] = orjson.dumps(json).decode()
        return rid, orjson.dumps(message).decode()

    def _query(self, params: Params) -> str:
        """``params`` URL-encoded; the few that recur (a fast path's, a number's) are kept."""
        key = tuple(params.items())
        query = self._queries.get(key)
        if query is None:
            query = urlencode(encode_params(params))
            if len(self._queries) < _QUERIES_KEPT:
                self._queries[key] = query
        return query

    async def _send(self, method: str, path: str, params: Params | None, json: Any) -> Any:
        rid, text = self._message(method, path, params, json)
        future: asyncio.Future[tuple[int, str]] = asyncio.get_running_loop().create_future()
        self._write(rid, text, _Pending(future, method, path, self._clock()))
        status, body = await future
        if status >= 300:
            raise http_error(status, method, path, short_detail(body))
        if not body:
            return None
        try:
            return orjson.loads(body)
        except ValueError:
            return body

    def send_now(self, method: str, path: str, params: Params | None, answered: Answered) -> bool:
        """Write ``method path`` on the socket at once, with no task, no future and no
        retry; ``answered`` is told how it ended (from the read of its answer, a sweep or the
        close). False, with nothing sent, while requests go over HTTP: then :meth:`request`
        is the way. A caller that wants a retry sends the request again with :meth:`request`
        (for an idempotent one) when ``answered`` tells of a failure."""
        if not self.ready:
            return False
        rid, text = self._message(method, path, params, None)
        try:
            self._write(rid, text, _Pending(None, method, path, self._clock(), answered))
        except AriUnavailable:
            return False
        return True

    def _write(self, rid: str, text: str, pending: _Pending) -> None:
        """``text`` on the socket, ``pending`` waiting for its answer; the socket's
        :class:`AriUnavailable` (nothing pending then, the outcome counted) when it would not
        take it."""
        self._pending[rid] = pending
        try:
            self._socket.send_now(text)
        except AriUnavailable:
            self._pending.pop(rid, None)
            self._done(pending, "unavailable")
            raise
        if self._sweep is None:
            self._arm()

    # -- the socket's side ---------------------------------------------------------------

    def on_reply(self, text: str) -> None:
        """One ``RESTResponse`` message, as read from the socket."""
        try:
            reply = orjson.loads(text)
        except ValueError:
            log.warning("ARI websocket: dropping an undecodable RESTResponse (%d bytes)", len(text))
            return
        rid = reply.get("request_id") if isinstance(reply, dict) else None
        pending = self._pending.pop(rid, None) if isinstance(rid, str) else None
        if pending is None:
            log.debug("ARI websocket: answer to no pending request (%r)", rid)
            return
        status = reply.get("status_code")
        if not isinstance(status, int):
            self._done(pending, "unavailable")
            self._fail(pending, AriUnavailable(f"ARI {pending.method} {pending.path}: no status"))
            return
        body = reply.get("message_body")
        self._done(pending, str(status))
        if pending.answered is not None:
            error = None
            if status >= 300:
                detail = short_detail(body if isinstance(body, str) else "")
                error = http_error(status, pending.method, pending.path, detail)
            self._tell(pending.answered, status, error)
        elif pending.future is not None and not pending.future.done():
            pending.future.set_result((status, body if isinstance(body, str) else ""))

    def on_closed(self) -> None:
        """The socket closed: no request sent on it will be answered."""
        self._ready = False
        pending, self._pending = self._pending, {}
        for item in pending.values():
            self._done(item, "unavailable")
            self._fail(item, AriUnavailable(f"ARI {item.method} {item.path}: websocket closed"))
        if pending:
            log.warning("ARI websocket closed with %d requests unanswered", len(pending))

    # -- time-outs -----------------------------------------------------------------------

    def _arm(self) -> None:
        self._sweep = asyncio.get_running_loop().call_later(self._timeout / 4, self._expire)

    def _expire(self) -> None:
        self._sweep = None
        limit = self._clock() - self._timeout
        expired = []
        for rid, item in self._pending.items():
            if item.started > limit:
                break  # the rest were sent later
            expired.append(rid)
        for rid in expired:
            item = self._pending.pop(rid)
            self._done(item, "unavailable")
            self._fail(item, AriTimedOut(f"ARI {item.method} {item.path}: timed out"))
        if self._pending:
            self._arm()

    def _done(self, item: _Pending, outcome: str) -> None:
        if self._observer is not None:
            self._observer.request_done(item.method, outcome, self._clock() - item.started)

    @staticmethod
    def _tell(answered: Answered, status: int, error: AriError | None) -> None:
        try:
            answered(status, error)
        except Exception:
            log.exception("ARI websocket: the callback of an answered request failed")

    @staticmethod
    def _fail(item: _Pending, exc: AriError) -> None:
        if item.answered is not None:
            WsRest._tell(item.answered, 0, exc)
        elif item.future is not None and not item.future.done():
            item.future.set_exception(exc)
