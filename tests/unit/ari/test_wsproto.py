"""The lean websocket client (ivr/ari/wsproto.py) against a raw server that writes the
frames each test needs, byte for byte (the EventStream tests run it against aiohttp's
websocket server, ``sim_ari.py``)."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import os
import struct
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import pytest
import uvloop

from ivr.ari import wsproto
from ivr.ari.wsproto import HandshakeRefused, ProtocolViolation, WsProtocol, accept_key, connect
from tests.unit.ari.util import until


def server_frame(opcode: int, payload: bytes, *, fin: bool = True) -> bytes:
    """A frame as a server writes it: unmasked."""
    n = len(payload)
    b0 = (0x80 if fin else 0) | opcode
    if n < 126:
        return struct.pack("!BB", b0, n) + payload
    if n < 1 << 16:
        return struct.pack("!BBH", b0, 126, n) + payload
    return struct.pack("!BBQ", b0, 127, n) + payload


def unmask(data: bytes) -> list[tuple[int, bytes]]:
    """The client's frames in ``data``: (opcode, unmasked payload)."""
    frames, pos = [], 0
    while pos < len(data):
        b0, b1 = data[pos], data[pos + 1]
        assert b1 & 0x80, "client frames must be masked"
        n, pos = b1 & 0x7F, pos + 2
        if n == 126:
            (n,), pos = struct.unpack_from("!H", data, pos), pos + 2
        elif n == 127:
            (n,), pos = struct.unpack_from("!Q", data, pos), pos + 8
        key, pos = data[pos : pos + 4], pos + 4
        payload = bytes(b ^ key[i % 4] for i, b in enumerate(data[pos : pos + n]))
        frames.append((b0 & 0x0F, payload))
        pos += n
    return frames


class RawServer:
    """Answers one upgrade (or refuses it), then writes what the test hands it and keeps
    what the client wrote."""

    def __init__(self, answer: Callable[[str], bytes] | None = None) -> None:
        self.answer = answer or self.switch
        self.request = ""
        self.received = bytearray()
        self.writer: asyncio.StreamWriter | None = None
        self.connected = asyncio.Event()
        self.port = 0

    @staticmethod
    def switch(request: str) -> bytes:
        key = next(
            line.split(":", 1)[1].strip()
            for line in request.split("\r\n")
            if line.lower().startswith("sec-websocket-key:")
        )
        accept = base64.b64encode(
            hashlib.sha1(key.encode() + b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11").digest()
        ).decode()
        return (
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Accept: {accept}\r\n\r\n"
        ).encode()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        self.request = head.decode("latin-1")
        writer.write(self.answer(self.request))
        self.writer = writer
        self.connected.set()
        while data := await reader.read(65536):
            self.received += data

    def write(self, data: bytes) -> None:
        assert self.writer is not None
        self.writer.write(data)

    def client_frames(self) -> list[tuple[int, bytes]]:
        return unmask(bytes(self.received))


@asynccontextmanager
async def raw_server(server: RawServer) -> AsyncIterator[RawServer]:
    srv = await asyncio.start_server(server._serve, "127.0.0.1", 0)
    server.port = srv.sockets[0].getsockname()[1]
    try:
        yield server
    finally:
        if server.writer is not None:
            server.writer.close()
        srv.close()


class Client:
    def __init__(self) -> None:
        self.texts: list[str] = []
        self.errors: list[BaseException] = []

    async def connect(self, port: int, heartbeat: float = 10.0) -> WsProtocol:
        return await connect(
            f"ws://127.0.0.1:{port}/ari/events",
            params={"app": "linja", "subscribeAll": "false"},
            headers={"Authorization": "Basic eA=="},
            on_text=self.texts.append,
            on_error=self.errors.append,
            heartbeat=heartbeat,
            timeout=2.0,
        )


def test_accept_key_is_rfc_6455s_example() -> None:
    assert accept_key("dGhlIHNhbXBsZSBub25jZQ==") == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="


def test_client_frames_are_masked_and_round_trip() -> None:
    for size in (0, 5, 125, 126, 65535, 65536):
        payload = os.urandom(size)
        [(opcode, back)] = unmask(wsproto.frame(0x1, payload))
        assert (opcode, back) == (0x1, payload)


async def test_upgrade_request_then_whole_split_and_fragmented_messages() -> None:
    client = Client()
    async with raw_server(RawServer()) as server:
        ws = await client.connect(server.port)
        first, *headers = server.request.split("\r\n")
        assert first == "GET /ari/events?app=linja&subscribeAll=false HTTP/1.1"
        assert "Authorization: Basic eA==" in headers
        big = "x" * 70000
        server.write(server_frame(0x1, b'{"type":"A"}') + server_frame(0x1, big.encode()))
        message = server_frame(0x1, '{"ä":1}'.encode())
        for i in range(len(message)):  # one byte at a time
            server.write(message[i : i + 1])
            await asyncio.sleep(0)
        server.write(server_frame(0x1, b'{"par', fin=False))
        server.write(server_frame(0x9, b"hb"))  # a ping between fragments
        server.write(server_frame(0x0, b"ts", fin=False) + server_frame(0x0, b'":2}'))
        await until(lambda: len(client.texts) == 4)
        assert client.texts == ['{"type":"A"}', big, '{"ä":1}', '{"parts":2}']
        await until(lambda: (0xA, b"hb") in server.client_frames())  # the pong
        assert ws.send_text('{"type":"RESTRequest"}')
        await until(lambda: (0x1, b'{"type":"RESTRequest"}') in server.client_frames())
        ws.close()
        assert await asyncio.wait_for(ws.closed, 2.0) == "connection closed"
    assert client.errors == []


async def test_close_from_server_is_echoed_and_reported_with_its_code() -> None:
    client = Client()
    async with raw_server(RawServer()) as server:
        ws = await client.connect(server.port)
        server.write(server_frame(0x8, struct.pack("!H", 1001)))
        assert await asyncio.wait_for(ws.closed, 2.0) == "closed by peer (code 1001)"
        await until(lambda: server.client_frames() == [(0x8, struct.pack("!H", 1000))])
        assert not ws.send_text("late")


@pytest.mark.parametrize(
    ("data", "why"),
    [
        (struct.pack("!BB", 0x81, 0x85) + b"\0\0\0\0hello", "masked frame"),
        (server_frame(0x3, b"?"), "unknown opcode"),
        (server_frame(0x0, b"tail"), "continuation without"),
        (bytes([0xC1, 0x01]) + b"x", "reserved bits"),
        (server_frame(0x9, b"p", fin=False), "bad control frame"),
    ],
)
async def test_bytes_that_are_no_websocket_end_the_connection(data: bytes, why: str) -> None:
    client = Client()
    async with raw_server(RawServer()) as server:
        ws = await client.connect(server.port)
        server.write(data)
        reason = await asyncio.wait_for(ws.closed, 2.0)
        assert reason.startswith("ProtocolViolation") and why in reason
        assert client.texts == []


async def test_an_oversized_frame_is_refused_with_1009_before_its_bytes_arrive() -> None:
    client = Client()
    async with raw_server(RawServer()) as server:
        ws = await client.connect(server.port)
        server.write(struct.pack("!BBQ", 0x81, 127, wsproto.MAX_MESSAGE + 1))
        assert "frame of" in await asyncio.wait_for(ws.closed, 2.0)
        await until(lambda: (0x8, struct.pack("!H", 1009)) in server.client_frames())


async def test_a_refused_or_wrong_upgrade_fails_connect() -> None:
    def refuse(request: str) -> bytes:
        return b"HTTP/1.1 401 Unauthorized\r\nContent-Length: 0\r\n\r\n"

    def wrong_key(request: str) -> bytes:
        return (
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
            b"Connection: Upgrade\r\nSec-WebSocket-Accept: bm90IGl0\r\n\r\n"
        )

    async with raw_server(RawServer(refuse)) as server:
        with pytest.raises(HandshakeRefused) as refused:
            await Client().connect(server.port)
        assert refused.value.status == 401
    async with raw_server(RawServer(wrong_key)) as server:
        with pytest.raises(ProtocolViolation, match="Sec-WebSocket-Accept"):
            await Client().connect(server.port)


async def test_a_handler_that_raises_is_reported_and_reading_goes_on() -> None:
    seen: list[str] = []
    errors: list[BaseException] = []

    def on_text(text: str) -> None:
        if text == "boom":
            raise RuntimeError("handler bug")
        seen.append(text)

    async with raw_server(RawServer()) as server:
        await connect(
            f"ws://127.0.0.1:{server.port}/ari/events",
            params={},
            headers={},
            on_text=on_text,
            on_error=errors.append,
            heartbeat=0,
            timeout=2.0,
        )
        server.write(server_frame(0x1, b"boom") + server_frame(0x1, b"after"))
        await until(lambda: seen == ["after"])
        assert [type(e) for e in errors] == [RuntimeError]


async def test_heartbeat_pings_and_gives_up_on_a_silent_peer() -> None:
    client = Client()
    async with raw_server(RawServer()) as server:
        ws = await client.connect(server.port, heartbeat=0.1)
        await until(lambda: any(op == 0x9 for op, _ in server.client_frames()))
        # The server never answers a ping: two silent periods later the client gives up.
        reason = await asyncio.wait_for(ws.closed, 2.0)
        assert reason.startswith("no answer to pings")


def test_the_client_runs_on_uvloop_as_the_controller_does() -> None:
    async def round_trip() -> None:
        client = Client()
        async with raw_server(RawServer()) as server:
            ws = await client.connect(server.port)
            server.write(server_frame(0x1, b'{"type":"StasisStart"}'))
            await until(lambda: client.texts == ['{"type":"StasisStart"}'])
            assert ws.send_text("x")
            await until(lambda: (0x1, b"x") in server.client_frames())
            ws.close()
            assert await asyncio.wait_for(ws.closed, 2.0) == "connection closed"

    uvloop.run(round_trip())
