"""A simulated ARI server (aiohttp test server): REST + the /ari/events websocket.

Checks HTTP Basic auth on every request (401 otherwise) and records what it saw so tests
can assert that no credentials ever travel in a URL.
"""

from __future__ import annotations

import asyncio
import base64
import json
import re
import time
from dataclasses import dataclass
from typing import Any

from aiohttp import WSMsgType, web
from aiohttp.test_utils import TestServer

USER = "linja-ari"
PASSWORD = "Sup3r-s3cret-pw"

_DELAY_KEY = re.compile(r"^/ari/(?:channels|playbacks)/(?P<id>[^/]+)")


@dataclass
class Seen:
    method: str
    url: str  # path + query as received
    authorization: str | None


class SimAri:
    def __init__(self, *, user: str = USER, password: str = PASSWORD) -> None:
        token = base64.b64encode(f"{user}:{password}".encode()).decode()
        self.expected_auth = f"Basic {token}"
        self.seen: list[Seen] = []
        self.channels: dict[str, dict[str, Any]] = {}
        self.playbacks: dict[str, dict[str, Any]] = {}
        self.delays: dict[str, float] = {}  # channel/playback id -> seconds before answering
        self.in_flight = 0  # requests being delayed right now
        self.most_in_flight = 0  # the most at any one time
        self.status_override: dict[str, tuple[int, dict[str, Any]]] = {}  # path -> answer
        self.drops: dict[str, int] = {}  # path -> how many of its next requests to drop
        self.ws_accepting = True
        self.ws_attempts: list[float] = []  # monotonic time of every websocket handshake
        self.ws_connects = 0
        # REST over the websocket (Asterisk 22.4+): False behaves like an older Asterisk,
        # which never answers a RESTRequest message.
        self.ws_rest = True
        self.ws_requests: list[dict[str, Any]] = []  # every RESTRequest message received
        self.sockets: set[web.WebSocketResponse] = set()
        self._connected = asyncio.Event()

        app = web.Application(middlewares=[self._middleware])
        app.router.add_get("/ari/events", self._events)
        app.router.add_get("/ari/channels", self._list_channels)
        app.router.add_route("*", "/ari/channels/{id}", self._channel)
        app.router.add_post("/ari/channels/{id}/answer", self._answer)
        app.router.add_post("/ari/channels/{id}/play/{pid}", self._play)
        app.router.add_route("*", "/ari/playbacks/{id}", self._playback)
        self._server = TestServer(app)

    # -- lifecycle ------------------------------------------------------------------------

    async def start(self) -> None:
        await self._server.start_server()

    async def close(self) -> None:
        await self.drop_websockets()
        await self._server.close()

    @property
    def base_url(self) -> str:
        return str(self._server.make_url("/ari"))

    # -- test controls --------------------------------------------------------------------

    def add_channel(self, channel_id: str, **extra: Any) -> dict[str, Any]:
        channel = {
            "id": channel_id,
            "name": f"PJSIP/trunk-{channel_id}",
            "state": "Ring",
            "caller": {"number": "0401234567", "name": ""},
            "dialplan": {"context": "linja-inbound", "exten": "100", "priority": 1},
            "language": "fi",
            **extra,
        }
        self.channels[channel_id] = channel
        return channel

    async def emit(self, event: dict[str, Any]) -> None:
        text = json.dumps(event)
        for ws in list(self.sockets):
            if not ws.closed:
                await ws.send_str(text)

    async def start_call(self, channel_id: str, *args: str) -> None:
        channel = self.add_channel(channel_id)
        await self.emit({"type": "StasisStart", "args": list(args), "channel": channel})

    async def finish_playback(self, playback_id: str, *, emit: bool = True) -> None:
        playback = self.playbacks.pop(playback_id)
        playback["state"] = "done"
        if emit:
            await self.emit({"type": "PlaybackFinished", "playback": playback})

    async def drop_websockets(self) -> None:
        for ws in list(self.sockets):
            await ws.close()
        self.sockets.clear()
        self._connected.clear()

    async def wait_ws(self, timeout: float = 2.0) -> None:  # noqa: ASYNC109
        async with asyncio.timeout(timeout):
            await self._connected.wait()

    # -- handlers -------------------------------------------------------------------------

    @web.middleware
    async def _middleware(self, request: web.Request, handler: Any) -> web.StreamResponse:
        auth = request.headers.get("Authorization")
        self.seen.append(Seen(request.method, str(request.rel_url), auth))
        if auth != self.expected_auth:
            return web.json_response({"message": "Authentication required"}, status=401)
        match = _DELAY_KEY.match(request.path)
        if match and match["id"] in self.delays:
            self.in_flight += 1
            self.most_in_flight = max(self.most_in_flight, self.in_flight)
            try:
                await asyncio.sleep(self.delays[match["id"]])
            finally:
                self.in_flight -= 1
        if self.drops.get(request.path, 0) > 0:
            # Like an Asterisk past its sessionlimit: the connection closes, no answer.
            self.drops[request.path] -= 1
            assert request.transport is not None
            request.transport.close()
            return web.Response()
        if request.path in self.status_override:
            status, body = self.status_override[request.path]
            return web.json_response(body, status=status)
        response: web.StreamResponse = await handler(request)
        return response

    async def _events(self, request: web.Request) -> web.StreamResponse:
        self.ws_attempts.append(time.monotonic())
        if request.query.get("app") != "linja" or request.query.get("subscribeAll") != "false":
            return web.json_response({"message": "bad app"}, status=400)
        if not self.ws_accepting:
            return web.json_response({"message": "unavailable"}, status=503)
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        self.ws_connects += 1
        self.sockets.add(ws)
        self._connected.set()
        try:
            async for msg in ws:
                if msg.type is WSMsgType.ERROR:
                    break
                if msg.type is WSMsgType.TEXT:
                    await self._ws_request(ws, msg.data)
        finally:
            self.sockets.discard(ws)
        return ws

    async def _ws_request(self, ws: web.WebSocketResponse, text: str) -> None:
        """Answer a RESTRequest message as Asterisk does: ``asterisk/ping`` and
        ``channels/{id}/continue`` (which takes the channel out of the application)."""
        message = json.loads(text)
        if message.get("type") != "RESTRequest":
            return
        self.ws_requests.append(message)
        if not self.ws_rest:
            return
        uri = str(message["uri"])
        path = uri.split("?", 1)[0]
        status, body = 404, json.dumps({"message": "Resource not found"})
        if uri.startswith("/"):
            status, body = 405, json.dumps({"message": "Invalid method"})
        elif path == "asterisk/ping":
            status, body = 200, json.dumps({"ping": "pong"})
        elif path in self.status_override:
            status, override = self.status_override[path]
            body = json.dumps(override)
        elif path.startswith("channels/") and path.endswith("/continue"):
            cid = path.split("/")[1]
            if self.channels.pop(cid, None) is not None:
                status, body = 204, ""
            else:
                body = json.dumps({"message": "Channel not found"})
        reply = {
            "type": "RESTResponse",
            "transaction_id": "",
            "request_id": message.get("request_id", ""),
            "status_code": status,
            "reason_phrase": "",
            "uri": path,
            "content_type": "application/json",
            "message_body": body,
        }
        await ws.send_str(json.dumps(reply, separators=(",", ":")))

    async def _list_channels(self, request: web.Request) -> web.Response:
        return web.json_response(list(self.channels.values()))

    def _missing(self, what: str) -> web.Response:
        return web.json_response({"message": f"{what} not found"}, status=404)

    async def _channel(self, request: web.Request) -> web.Response:
        channel = self.channels.get(request.match_info["id"])
        if channel is None:
            return self._missing("Channel")
        if request.method == "DELETE":
            del self.channels[channel["id"]]
            return web.Response(status=204)
        return web.json_response(channel)

    async def _answer(self, request: web.Request) -> web.Response:
        channel = self.channels.get(request.match_info["id"])
        if channel is None:
            return self._missing("Channel")
        channel["state"] = "Up"
        return web.Response(status=204)

    async def _play(self, request: web.Request) -> web.Response:
        channel_id = request.match_info["id"]
        if channel_id not in self.channels:
            return self._missing("Channel")
        playback = {
            "id": request.match_info["pid"],
            "media_uri": request.query.get("media", ""),
            "language": request.query.get("lang", "en"),
            "target_uri": f"channel:{channel_id}",
            "state": "playing",
        }
        self.playbacks[playback["id"]] = playback
        await self.emit({"type": "PlaybackStarted", "playback": playback})
        return web.json_response(playback, status=201)

    async def _playback(self, request: web.Request) -> web.Response:
        playback = self.playbacks.get(request.match_info["id"])
        if playback is None:
            return self._missing("Playback")
        if request.method == "DELETE":
            await self.finish_playback(playback["id"])
            return web.Response(status=204)
        return web.json_response(playback)
