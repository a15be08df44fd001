"""Http1Pool against a tiny asyncio HTTP server that can misbehave on purpose."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from ivr.ari.http1 import Http1Pool, TransportError


class Server:
    """Answers ``200 {"n": <request number>}``; ``close_after`` responses per connection,
    then closes it; ``refuse``: closes every new connection before reading anything."""

    def __init__(self) -> None:
        self.connections = 0
        self.requests: list[bytes] = []
        self.close_after: int | None = None
        self.connection_close_header = False
        self.refuse = False
        self._server: asyncio.Server | None = None
        self.port = 0

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def close(self) -> None:
        assert self._server is not None
        self._server.close()
        await self._server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        served = 0
        try:
            while not self.refuse:
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":")[1])
                body = await reader.readexactly(length)
                self.requests.append(head + body)
                payload = b'{"n": %d}' % len(self.requests)
                extra = b"Connection: close\r\n" if self.connection_close_header else b""
                writer.write(
                    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                    + extra
                    + b"Content-Length: %d\r\n\r\n" % len(payload)
                    + payload
                )
                await writer.drain()
                served += 1
                if self.connection_close_header or (
                    self.close_after is not None and served >= self.close_after
                ):
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        writer.close()


@pytest.fixture
async def server() -> AsyncIterator[Server]:
    s = Server()
    await s.start()
    yield s
    await s.close()


def pool_for(server: Server) -> Http1Pool:
    return Http1Pool(f"http://127.0.0.1:{server.port}/ari", headers={"Authorization": "x"})


async def test_requests_reuse_one_keep_alive_connection(server: Server) -> None:
    pool = pool_for(server)
    for _ in range(5):
        status, _ = await pool.request("POST", "/channels/c1/answer")
        assert status == 200
    await pool.close()
    assert server.connections == 1
    assert server.requests[0].startswith(b"POST /ari/channels/c1/answer HTTP/1.1\r\n")
    assert b"Authorization: x\r\n" in server.requests[0]


async def test_query_and_json_body_are_sent(server: Server) -> None:
    pool = pool_for(server)
    await pool.request("PUT", "/x", params={"media": "sound:a,sound:b", "q": "a b&c"}, body=b"{}")
    await pool.close()
    head = server.requests[0]
    assert head.startswith(b"PUT /ari/x?media=sound:a,sound:b&q=a+b%26c HTTP/1.1\r\n")
    assert b"Content-Length: 2\r\n" in head and head.endswith(b"\r\n\r\n{}")


async def test_connection_closed_while_idle_is_retried_on_a_new_one(server: Server) -> None:
    server.close_after = 1
    pool = pool_for(server)
    await pool.request("GET", "/a")
    await asyncio.sleep(0.05)  # the server has closed it; the pool does not know yet
    status, body = await pool.request("GET", "/b")
    await pool.close()
    assert (status, body) == (200, b'{"n": 2}')
    assert server.connections == 2


async def test_connection_close_header_is_honoured(server: Server) -> None:
    server.connection_close_header = True
    pool = pool_for(server)
    await pool.request("GET", "/a")
    await pool.request("GET", "/b")
    await pool.close()
    assert server.connections == 2


async def test_a_new_connection_closed_unanswered_is_a_transport_error(server: Server) -> None:
    server.refuse = True
    pool = pool_for(server)
    with pytest.raises(TransportError):
        await pool.request("POST", "/channels/c1/answer")
    await pool.close()


async def test_nothing_listening_is_a_transport_error() -> None:
    s = Server()
    await s.start()
    port = s.port
    await s.close()
    pool = Http1Pool(f"http://127.0.0.1:{port}/ari", headers={})
    with pytest.raises(TransportError):
        await pool.request("GET", "/channels")
    await pool.close()


def test_only_plain_http_urls() -> None:
    with pytest.raises(ValueError, match="http://host:port"):
        Http1Pool("https://127.0.0.1:8089/ari", headers={})


async def test_a_connection_idle_longer_than_max_idle_is_not_reused(server: Server) -> None:
    pool = Http1Pool(f"http://127.0.0.1:{server.port}/ari", headers={}, limit=4, max_idle=0.05)
    await pool.request("GET", "/a")
    await pool.request("GET", "/b")  # reused at once
    await asyncio.sleep(0.1)  # older than max_idle: the server may be closing it right now
    await pool.request("GET", "/c")
    await pool.close()
    assert server.connections == 2
