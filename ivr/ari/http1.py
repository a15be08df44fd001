"""A lean HTTP/1.1 client for ARI's REST side: persistent loopback connections, nothing else.

aiohttp's client costs about 450 µs of CPU per request on the bench machine (URL objects,
header multidicts, tracing hooks, timers); a bulletin call makes two or three requests, so
that alone was most of the controller's CPU per call. ARI needs little of HTTP: Asterisk
answers every request with a ``Content-Length`` body (never chunked) on keep-alive
connections. This pool writes the request in one ``write`` and reads the response head and
body from the stream: about a third of the cost.

Connections are kept in a LIFO pool of at most ``limit`` (idle ones first, so a burst reuses
warm connections); a request waits for a free slot beyond that. A reused connection the
server closed while idle (EOF before any byte of the response) is retried once on a new
connection: the server never read that request. Connections idle for ``max_idle`` seconds
(below Asterisk's ``session_keep_alive``) are closed rather than reused. Every other
failure closes the connection and raises :class:`TransportError`.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from urllib.parse import urlencode, urlsplit

__all__ = ["Http1Pool", "TransportError"]

_HEAD_END = b"\r\n\r\n"
_MAX_HEAD = 64 * 1024


class TransportError(OSError):
    """The request could not be sent or its response not read (connection-level)."""


class _Conn:
    __slots__ = ("idle_since", "reader", "writer")

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.idle_since = 0.0

    def close(self) -> None:
        self.writer.close()


class Http1Pool:
    """Requests to one ``http://host:port/prefix`` over pooled keep-alive connections."""

    def __init__(
        self,
        base_url: str,
        *,
        headers: Mapping[str, str],
        limit: int = 64,
        max_idle: float = 5.0,
    ) -> None:
        url = urlsplit(base_url)
        if url.scheme != "http" or not url.hostname:
            raise ValueError(f"Http1Pool supports http://host:port URLs only, not {base_url!r}")
        self._host = url.hostname
        self._port = url.port or 80
        self._prefix = url.path.rstrip("/")
        host_header = f"{self._host}:{self._port}"
        extra = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        self._fixed = f" HTTP/1.1\r\nHost: {host_header}\r\n{extra}".encode("latin-1")
        self._idle: list[_Conn] = []
        self._max_idle = max_idle  # below the server's keep-alive: it never closes one in use
        self._slots = asyncio.Semaphore(limit)
        self._closed = False

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        body: bytes | None = None,
        content_type: str = "application/json",
    ) -> tuple[int, bytes]:
        """(status, body) of ``method`` ``path`` (below the base URL's path)."""
        target = self._prefix + path
        if params:
            target += "?" + urlencode(params, safe=":/,@")
        head = method.encode("ascii") + b" " + target.encode("utf-8") + self._fixed
        if body is None:
            data = head + b"Content-Length: 0\r\n\r\n"
        else:
            length = f"Content-Type: {content_type}\r\nContent-Length: {len(body)}\r\n\r\n"
            data = head + length.encode("latin-1") + body
        async with self._slots:
            while True:
                conn, reused = await self._checkout()
                try:
                    status, payload, keep = await self._exchange(conn, data)
                except _StaleConnection:
                    conn.close()
                    if reused:
                        continue  # the server closed it while idle; it never read this
                    raise TransportError("server closed the connection") from None
                except BaseException:
                    conn.close()
                    raise
                if keep and not self._closed:
                    conn.idle_since = time.monotonic()
                    self._idle.append(conn)
                else:
                    conn.close()
                return status, payload

    async def _checkout(self) -> tuple[_Conn, bool]:
        if self._closed:
            raise TransportError("pool is closed")
        stale_before = time.monotonic() - self._max_idle
        while self._idle:
            conn = self._idle.pop()
            if conn.idle_since < stale_before:  # the newest is too old: so are the rest
                for old in (conn, *self._idle):
                    old.close()
                self._idle.clear()
                break
            if conn.reader.at_eof() or conn.writer.is_closing():
                conn.close()
                continue
            return conn, True
        try:
            reader, writer = await asyncio.open_connection(self._host, self._port, limit=_MAX_HEAD)
        except OSError as exc:
            raise TransportError(f"cannot connect: {exc.strerror or exc}") from exc
        return _Conn(reader, writer), False

    @staticmethod
    async def _exchange(conn: _Conn, data: bytes) -> tuple[int, bytes, bool]:
        try:
            conn.writer.write(data)
            head = await conn.reader.readuntil(_HEAD_END)
        except asyncio.IncompleteReadError as exc:
            if not exc.partial:
                raise _StaleConnection from None
            raise TransportError("connection closed inside the response head") from None
        except (ConnectionError, asyncio.LimitOverrunError) as exc:
            raise TransportError(f"{type(exc).__name__}: {exc}") from exc
        lines = head.split(b"\r\n")
        try:
            status = int(lines[0].split(b" ", 2)[1])
        except (IndexError, ValueError):
            raise TransportError("malformed status line") from None
        length = 0
        keep = True
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            name = name.strip().lower()
            if name == b"content-length":
                length = int(value)
            elif name == b"connection" and value.strip().lower() == b"close":
                keep = False
            elif name == b"transfer-encoding":
                raise TransportError("chunked responses are not supported")
        try:
            payload = await conn.reader.readexactly(length) if length else b""
        except (asyncio.IncompleteReadError, ConnectionError) as exc:
            raise TransportError("connection closed inside the response body") from exc
        return status, payload, keep

    async def close(self) -> None:
        self._closed = True
        idle, self._idle = self._idle, []
        for conn in idle:
            conn.close()


class _StaleConnection(Exception):
    """EOF before any byte of the response."""
