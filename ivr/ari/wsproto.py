"""A lean websocket client for ARI's event socket: frames read in ``data_received``.

aiohttp's websocket client hands every message through a queue, a future and the reader
task's ``async for`` (one task wake-up a message), and a bulletin call brings three
messages (``StasisStart``, the ``RESTResponse`` of its ``continue``, ``StasisEnd``). ARI
needs little of RFC 6455: text frames from the server (never masked, maybe fragmented),
pings to answer, a close to echo. This protocol parses frames as bytes arrive and calls
``on_text`` for each whole message at once, in the same loop iteration as the read.

It also writes text frames (``send_text``, masked with a fresh random key, as a client
must), sends a ping every ``heartbeat`` seconds and closes the connection when nothing at
all has arrived for twice that, so a peer that vanished without a FIN is noticed.

Used by :class:`~ivr.ari.events.EventStream`: :func:`connect` makes the connection (the
HTTP upgrade, checked), and :attr:`WsProtocol.closed` says when and why it ended.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import os
import ssl
import struct
from collections.abc import Callable, Mapping
from typing import cast
from urllib.parse import urlencode, urlsplit

__all__ = ["HandshakeRefused", "ProtocolViolation", "WsProtocol", "accept_key", "connect", "frame"]

_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"  # RFC 6455 section 1.3
_HEAD_END = b"\r\n\r\n"
_MAX_HEAD = 64 * 1024
MAX_MESSAGE = 16 * 1024 * 1024  # a bigger message closes the socket (code 1009)

_TEXT, _BINARY, _CONT, _CLOSE, _PING, _PONG = 0x1, 0x2, 0x0, 0x8, 0x9, 0xA


class HandshakeRefused(Exception):
    """The server answered the upgrade with something other than ``101``."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(f"HTTP {status} {reason}".rstrip())
        self.status = status


class ProtocolViolation(Exception):
    """Bytes from the server that are no websocket."""


def _mask(payload: bytes, key: bytes) -> bytes:
    n = len(payload)
    if not n:
        return payload
    stream = (key * (n // 4 + 1))[:n]
    return (int.from_bytes(payload, "big") ^ int.from_bytes(stream, "big")).to_bytes(n, "big")


def frame(opcode: int, payload: bytes, key: bytes | None = None) -> bytes:
    """One final frame; masked with ``key`` (4 random bytes unless given)."""
    key = os.urandom(4) if key is None else key
    n = len(payload)
    if n < 126:
        head = struct.pack("!BB", 0x80 | opcode, 0x80 | n)
    elif n < 1 << 16:
        head = struct.pack("!BBH", 0x80 | opcode, 0x80 | 126, n)
    else:
        head = struct.pack("!BBQ", 0x80 | opcode, 0x80 | 127, n)
    return head + key + _mask(payload, key)


def accept_key(key: str) -> str:
    """The ``Sec-WebSocket-Accept`` a server owes for ``Sec-WebSocket-Key`` ``key``."""
    return base64.b64encode(hashlib.sha1(key.encode() + _GUID).digest()).decode()


class WsProtocol(asyncio.Protocol):
    """One client websocket connection. ``on_text`` gets every text (or binary, decoded)
    message, synchronously; it must not block and should not raise (what it raises is
    passed to ``on_error`` and the connection goes on)."""

    def __init__(
        self,
        request: bytes,
        expect_accept: str,
        *,
        on_text: Callable[[str], None],
        on_error: Callable[[BaseException], None],
        heartbeat: float = 10.0,
    ) -> None:
        self._request = request
        self._accept = expect_accept
        self._on_text = on_text
        self._on_error = on_error
        self._heartbeat = heartbeat
        self._transport: asyncio.Transport | None = None
        self._buf = bytearray()
        self._upgraded = False
        self._fragments: list[bytes] = []
        self._fragment_op = 0
        self._fragment_len = 0
        self._timer: asyncio.TimerHandle | None = None
        self._heard = False  # anything arrived since the last heartbeat tick
        self._silent_ticks = 0
        self._close_sent = False
        self.close_code: int | None = None
        loop = asyncio.get_running_loop()
        self.upgraded: asyncio.Future[None] = loop.create_future()
        self.closed: asyncio.Future[str] = loop.create_future()  # why it ended

    # -- asyncio.Protocol ----------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)  # uvloop's is no subclass of it
        self._transport.write(self._request)

    def connection_lost(self, exc: Exception | None) -> None:
        self._transport = None
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        reason = f"{type(exc).__name__}: {exc}".rstrip(": ") if exc else "connection closed"
        if not self.upgraded.done():
            self.upgraded.set_exception(ConnectionError(f"before the upgrade: {reason}"))
        if self.close_code is not None:
            reason = f"closed by peer (code {self.close_code})"
        self._finish(reason)

    def data_received(self, data: bytes) -> None:
        self._heard = True
        self._buf += data
        try:
            if not self._upgraded and not self._read_head():
                return
            self._read_frames()
        except (ProtocolViolation, HandshakeRefused) as exc:
            if not self.upgraded.done():
                self.upgraded.set_exception(exc)
            self._abort(f"{type(exc).__name__}: {exc}")

    # -- reading -------------------------------------------------------------------------

    def _read_head(self) -> bool:
        end = self._buf.find(_HEAD_END)
        if end < 0:
            if len(self._buf) > _MAX_HEAD:
                raise ProtocolViolation("response head too large")
            return False
        head = bytes(self._buf[:end]).decode("latin-1")
        del self._buf[: end + len(_HEAD_END)]
        status_line, *lines = head.split("\r\n")
        parts = status_line.split(" ", 2)
        if len(parts) < 2 or not parts[0].startswith("HTTP/1.") or not parts[1].isdigit():
            raise ProtocolViolation(f"not an HTTP response: {status_line[:80]!r}")
        status = int(parts[1])
        if status != 101:
            raise HandshakeRefused(status, parts[2] if len(parts) > 2 else "")
        headers = {}
        for line in lines:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        if headers.get("upgrade", "").lower() != "websocket":
            raise ProtocolViolation("101 without Upgrade: websocket")
        if headers.get("sec-websocket-accept") != self._accept:
            raise ProtocolViolation("wrong Sec-WebSocket-Accept")
        self._upgraded = True
        self.upgraded.set_result(None)
        if self._heartbeat > 0:
            self._timer = asyncio.get_running_loop().call_later(self._heartbeat, self._tick)
        return True

    def _read_frames(self) -> None:
        buf = self._buf
        pos = 0
        size = len(buf)
        try:
            while size - pos >= 2:
                b0, b1 = buf[pos], buf[pos + 1]
                if b1 & 0x80:
                    raise ProtocolViolation("masked frame from the server")
                if b0 & 0x70:
                    raise ProtocolViolation("reserved bits set (no extension was agreed)")
                n = b1 & 0x7F
                at = pos + 2
                if n == 126:
                    if size - at < 2:
                        break
                    (n,) = struct.unpack_from("!H", buf, at)
                    at += 2
                elif n == 127:
                    if size - at < 8:
                        break
                    (n,) = struct.unpack_from("!Q", buf, at)
                    at += 8
                if n > MAX_MESSAGE:
                    self._close(1009)
                    raise ProtocolViolation(f"frame of {n} bytes")
                if size - at < n:
                    break
                payload = bytes(buf[at : at + n])
                pos = at + n
                self._frame(b0 & 0x80 != 0, b0 & 0x0F, payload)
                if self._transport is None:
                    return
        finally:
            del buf[:pos]

    def _frame(self, fin: bool, opcode: int, payload: bytes) -> None:
        if opcode >= 0x8:  # control frames: never fragmented, at most 125 bytes
            if not fin or len(payload) > 125:
                raise ProtocolViolation("bad control frame")
            if opcode == _PING:
                self._write(frame(_PONG, payload))
            elif opcode == _CLOSE:
                self.close_code = struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else 1005
                self._close(1000)
                if self._transport is not None:
                    self._transport.close()
            elif opcode != _PONG:
                raise ProtocolViolation(f"unknown opcode {opcode:#x}")
            return
        if opcode == _CONT:
            if not self._fragments:
                raise ProtocolViolation("continuation without a first frame")
            self._fragment_len += len(payload)
            if self._fragment_len > MAX_MESSAGE:
                self._close(1009)
                raise ProtocolViolation("message too large")
            self._fragments.append(payload)
            if not fin:
                return
            payload, opcode = b"".join(self._fragments), self._fragment_op
            self._fragments = []
        elif opcode in (_TEXT, _BINARY):
            if self._fragments:
                raise ProtocolViolation("new message inside a fragmented one")
            if not fin:
                self._fragments, self._fragment_op = [payload], opcode
                self._fragment_len = len(payload)
                return
        else:
            raise ProtocolViolation(f"unknown opcode {opcode:#x}")
        text = payload.decode("utf-8", "replace")  # bad bytes: the JSON decode says so
        try:
            self._on_text(text)
        except Exception as exc:  # the reader goes on; the owner logs it
            self._on_error(exc)

    # -- writing -------------------------------------------------------------------------

    @property
    def is_open(self) -> bool:
        return self._transport is not None and self._upgraded and not self._close_sent

    def send_text(self, text: str) -> bool:
        """Write one text frame now; False when the connection is not open."""
        if not self.is_open:
            return False
        self._write(frame(_TEXT, text.encode()))
        return True

    def _write(self, data: bytes) -> None:
        if self._transport is not None and not self._transport.is_closing():
            self._transport.write(data)

    def _close(self, code: int) -> None:
        if not self._close_sent and self._upgraded:
            self._close_sent = True
            self._write(frame(_CLOSE, struct.pack("!H", code)))

    def close(self) -> None:
        """Send a close frame and end the connection (``closed`` resolves when it has)."""
        self._close(1000)
        if self._transport is not None:
            self._transport.close()

    def _abort(self, reason: str) -> None:
        self._finish(reason)
        if self._transport is not None:
            self._transport.abort()

    def _finish(self, reason: str) -> None:
        if not self.closed.done():
            self.closed.set_result(reason)

    # -- heartbeat -----------------------------------------------------------------------

    def _tick(self) -> None:
        self._timer = None
        if self._transport is None:
            return
        if self._heard:
            self._silent_ticks = 0
        else:
            self._silent_ticks += 1
        self._heard = False
        if self._silent_ticks >= 2:
            self._abort(f"no answer to pings for {2 * self._heartbeat:.0f} s")
            return
        self._write(frame(_PING, b""))
        self._timer = asyncio.get_running_loop().call_later(self._heartbeat, self._tick)


def _request(url: str, params: Mapping[str, str], headers: Mapping[str, str]) -> tuple[bytes, str]:
    parts = urlsplit(url)
    path = (parts.path or "/") + "?" + urlencode(params) if params else parts.path or "/"
    key = base64.b64encode(os.urandom(16)).decode()
    lines = [
        f"GET {path} HTTP/1.1",
        f"Host: {parts.netloc}",
        "Upgrade: websocket",
        "Connection: Upgrade",
        f"Sec-WebSocket-Key: {key}",
        "Sec-WebSocket-Version: 13",
        *(f"{name}: {value}" for name, value in headers.items()),
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"), accept_key(key)


async def connect(
    url: str,
    *,
    params: Mapping[str, str],
    headers: Mapping[str, str],
    on_text: Callable[[str], None],
    on_error: Callable[[BaseException], None],
    heartbeat: float,
    timeout: float,  # noqa: ASYNC109 - bounds the connect and the upgrade together
) -> WsProtocol:
    """Open ``ws://`` or ``wss://`` ``url`` and upgrade it; raises :class:`HandshakeRefused`
    for an HTTP answer other than 101, :class:`OSError` or :class:`TimeoutError` when it cannot
    connect, ProtocolViolation or ConnectionError for a broken upgrade."""
    parts = urlsplit(url)
    if parts.scheme not in ("ws", "wss") or not parts.hostname:
        raise ValueError(f"not a websocket URL: {url!r}")
    tls = parts.scheme == "wss"
    port = parts.port or (443 if tls else 80)
    request, accept = _request(url, params, headers)
    loop = asyncio.get_running_loop()
    proto: WsProtocol | None = None

    def factory() -> WsProtocol:
        nonlocal proto
        proto = WsProtocol(request, accept, on_text=on_text, on_error=on_error, heartbeat=heartbeat)
        return proto

    async with asyncio.timeout(timeout):
        await loop.create_connection(
            factory, parts.hostname, port, ssl=ssl.create_default_context() if tls else None
        )
        assert proto is not None
        try:
            await proto.upgraded
        except BaseException:
            proto.close()
            raise
    return proto
