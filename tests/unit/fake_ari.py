"""FakeAri: an in-memory AriRest for call-flow unit tests.

Usage::

    fake = FakeAri(durations={"sound:welcome": 0.05})
    dispatcher = Dispatcher(fake, my_flow)
    fake.attach(dispatcher)
    fake.start_call("c1", args=["inbound"], caller="0401234567", exten="100")
    await fake.wait_until(lambda: fake.held_playbacks("c1"))   # if hold_playbacks=True
    fake.dtmf("c1", "12#")
    fake.hangup("c1")
    await fake.wait_calls_done()
    assert fake.media_played("c1") == ["sound:welcome", ...]

Every request is recorded in ``fake.requests`` as ``(method, path, params, json)``.
Playbacks auto-emit PlaybackStarted/PlaybackFinished after their duration (sum of
``durations[media]`` or ``default_duration`` per media item) unless held
(``hold_playbacks=True`` or media listed in ``hold_media``), in which case
``finish_playback()`` releases them. Requests on hung-up channels raise ChannelGone (404),
on channels that left Stasis NotInStasis (409).
"""

from __future__ import annotations

import asyncio
import inspect
import re
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from ivr.ari.dispatcher import Dispatcher
from ivr.ari.errors import ChannelGone, NotInStasis, http_error

__all__ = ["FakeAri", "FakePlayback", "Request"]

Request = tuple[str, str, dict[str, str | int | bool] | None, Any]
Event = dict[str, Any]

_CHANNEL_PATH = re.compile(r"^/channels/(?P<id>[^/]+)(?P<rest>/.*)?$")
_PLAY = re.compile(r"^/play(?:/(?P<pid>[^/]+))?$")
_PLAYBACK_PATH = re.compile(r"^/playbacks/(?P<id>[^/]+)(?P<rest>/.*)?$")
_LIVE_RECORDING = re.compile(r"^/recordings/live/(?P<name>[^/]+)(?P<rest>/.*)?$")
_BRIDGE_PATH = re.compile(r"^/bridges/(?P<id>[^/]+)(?P<rest>/.*)?$")


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


@dataclass
class FakePlayback:
    id: str
    channel_id: str
    media: list[str]
    lang: str | None
    state: str = "playing"
    timer: asyncio.TimerHandle | None = field(default=None, repr=False)

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "media_uri": ",".join(self.media),
            "target_uri": f"channel:{self.channel_id}",
            "language": self.lang or "en",
            "state": self.state,
        }


class FakeAri:
    """In-memory ARI (REST side + event injection) for flow tests."""

    in_flight = 0  # AriClient's count of requests not answered yet (the admission gate)

    def __init__(
        self,
        *,
        durations: Mapping[str, float] | None = None,
        default_duration: float = 0.0,
        hold_playbacks: bool = False,
        hold_media: Iterable[str] = (),
        app: str = "linja",
    ) -> None:
        self.durations: dict[str, float] = dict(durations or {})
        self.default_duration = default_duration
        self.hold_playbacks = hold_playbacks
        self.hold_media: set[str] = set(hold_media)
        self.app = app
        self.requests: list[Request] = []
        self.events: list[Event] = []
        self.channels: dict[str, dict[str, Any]] = {}
        self.playbacks: dict[str, FakePlayback] = {}
        self.recordings: dict[str, dict[str, Any]] = {}
        self.bridges: dict[str, dict[str, Any]] = {}
        self.played: list[tuple[str, str]] = []
        self.responses: dict[tuple[str, str], Any] = {}
        self._in_stasis: set[str] = set()
        self._dispatcher: Dispatcher | None = None

    # -- wiring --------------------------------------------------------------------------

    def attach(self, dispatcher: Dispatcher) -> None:
        """Send emitted events to ``dispatcher.on_event``."""
        self._dispatcher = dispatcher

    def detach(self) -> None:
        """Stop delivering events (as if the event stream were down)."""
        self._dispatcher = None

    def emit(self, event: Event) -> None:
        """Deliver one event now (synchronously) to the attached dispatcher, if any."""
        event.setdefault("application", self.app)
        event.setdefault("timestamp", _now())
        self.events.append(event)
        if self._dispatcher is not None:
            self._dispatcher.on_event(event)

    def _emit_soon(self, event: Event) -> None:
        asyncio.get_running_loop().call_soon(self.emit, event)

    def set_response(self, method: str, path: str, response: Any) -> None:
        """Override the answer for ``method path``: a value, an exception to raise, or a
        (sync or async) callable ``(params, json) -> value``."""
        self.responses[(method.upper(), path)] = response

    # -- test-side event injection -------------------------------------------------------

    def start_call(
        self,
        channel_id: str,
        *,
        args: Iterable[str] = (),
        caller: str = "0401234567",
        caller_name: str = "",
        exten: str = "100",
        context: str = "linja-inbound",
        language: str = "fi",
        state: str = "Ring",
    ) -> dict[str, Any]:
        """A new channel enters the app: emits StasisStart. Returns the channel dict.
        ``state="Up"``: the dialplan answered it before Stasis."""
        channel = self.channels.get(channel_id) or {
            "id": channel_id,
            "name": f"PJSIP/trunk-{channel_id}",
            "state": state,
            "caller": {"name": caller_name, "number": caller},
            "connected": {"name": "", "number": ""},
            "accountcode": "",
            "dialplan": {
                "context": context,
                "exten": exten,
                "priority": 1,
                "app_name": "Stasis",
                "app_data": ",".join([self.app, *args]),
            },
            "creationtime": _now(),
            "language": language,
        }
        self.channels[channel_id] = channel
        self._in_stasis.add(channel_id)
        self.emit({"type": "StasisStart", "args": list(args), "channel": channel})
        return channel

    def dtmf(self, channel_id: str, digits: str) -> None:
        """The caller presses ``digits`` (one ChannelDtmfReceived per character)."""
        for digit in digits:
            self.emit(
                {
                    "type": "ChannelDtmfReceived",
                    "digit": digit,
                    "duration_ms": 100,
                    "channel": self._channel_ref(channel_id),
                }
            )

    def hangup(self, channel_id: str, *, cause: int = 16) -> None:
        """The caller hangs up: ChannelHangupRequest, Playback/RecordingFinished for
        whatever was running on it, StasisEnd, ChannelDestroyed (all synchronously).
        A channel that is already gone is left alone."""
        if channel_id not in self.channels:
            return
        ref = self._channel_ref(channel_id)
        self.emit({"type": "ChannelHangupRequest", "cause": cause, "channel": ref})
        self._teardown(channel_id, cause)

    def _teardown(self, channel_id: str, cause: int) -> None:
        ref = self._channel_ref(channel_id)
        for playback in [p for p in self.playbacks.values() if p.channel_id == channel_id]:
            self._finish(playback, "done")
        for name in [n for n, r in self.recordings.items() if r["channel_id"] == channel_id]:
            self.finish_recording(name)
        self.channels.pop(channel_id, None)
        if channel_id in self._in_stasis:
            self._in_stasis.discard(channel_id)
            self.emit({"type": "StasisEnd", "channel": ref})
        self.emit(
            {"type": "ChannelDestroyed", "cause": cause, "cause_txt": "Normal", "channel": ref}
        )

    def _channel_ref(self, channel_id: str) -> dict[str, Any]:
        return dict(self.channels.get(channel_id) or {"id": channel_id})

    # -- playbacks and recordings --------------------------------------------------------

    def held_playbacks(self, channel_id: str | None = None) -> list[str]:
        """Ids of playbacks still playing (on ``channel_id``, or on any channel)."""
        return [
            p.id
            for p in self.playbacks.values()
            if channel_id is None or p.channel_id == channel_id
        ]

    def finish_playback(
        self, playback_id: str | None = None, *, channel_id: str | None = None
    ) -> int:
        """Finish one playback, or all playing on ``channel_id``, or all. Returns count."""
        if playback_id is not None:
            targets = [self.playbacks[playback_id]] if playback_id in self.playbacks else []
        else:
            targets = [
                p
                for p in self.playbacks.values()
                if channel_id is None or p.channel_id == channel_id
            ]
        for playback in targets:
            self._finish(playback, "done")
        return len(targets)

    def _finish(self, playback: FakePlayback, state: str) -> None:
        if self.playbacks.pop(playback.id, None) is None:
            return
        if playback.timer is not None:
            playback.timer.cancel()
        playback.state = state
        self.emit({"type": "PlaybackFinished", "playback": playback.as_json()})

    def media_played(self, channel_id: str | None = None) -> list[str]:
        """Every media URI asked to be played (on ``channel_id``), in order."""
        return [m for c, m in self.played if channel_id is None or c == channel_id]

    def finish_recording(self, name: str, *, duration: int = 3, failed: bool = False) -> None:
        recording = self.recordings.pop(name, None)
        if recording is None:
            return
        body = {
            "name": name,
            "format": recording["format"],
            "target_uri": f"channel:{recording['channel_id']}",
            "state": "failed" if failed else "done",
            "duration": duration,
        }
        if failed:
            body["cause"] = "fake failure"
        self.emit({"type": "RecordingFailed" if failed else "RecordingFinished", "recording": body})

    # -- waiting helpers -----------------------------------------------------------------

    async def wait_until(self, predicate: Callable[[], Any], timeout: float = 2.0) -> None:  # noqa: ASYNC109
        """Poll ``predicate`` until it is truthy; AssertionError after ``timeout``."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not predicate():
            if loop.time() > deadline:
                raise AssertionError(f"condition not met within {timeout} s")
            await asyncio.sleep(0.001)

    async def wait_calls_done(self, timeout: float = 5.0) -> None:  # noqa: ASYNC109
        """Wait until every call task of the attached dispatcher has ended."""
        assert self._dispatcher is not None, "attach() a dispatcher first"
        if not await self._dispatcher.wait_idle(timeout):
            raise AssertionError(
                f"{self._dispatcher.active_calls} call(s) still running after {timeout} s"
            )

    def requests_to(self, method: str, path_prefix: str = "") -> list[Request]:
        return [r for r in self.requests if r[0] == method and r[1].startswith(path_prefix)]

    # -- AriRest -------------------------------------------------------------------------

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str | int | bool] | None = None,
        json: Any = None,
    ) -> Any:
        method = method.upper()
        p: dict[str, str | int | bool] = dict(params or {})
        self.requests.append((method, path, dict(p) if params is not None else None, json))
        override = self.responses.get((method, path), _MISSING)
        if override is not _MISSING:
            if isinstance(override, BaseException):
                raise override
            if callable(override):
                result = override(p, json)
                if inspect.isawaitable(result):
                    result = await result
                return result
            return override
        return self._route(method, path, p, json)

    def _route(self, method: str, path: str, p: dict[str, str | int | bool], body: Any) -> Any:
        if path == "/channels":
            if method == "GET":
                return [dict(c) for c in self.channels.values()]
            if method == "POST":
                return self._originate(p)
        if m := _CHANNEL_PATH.match(path):
            return self._channel_request(method, path, m["id"], m["rest"] or "", p)
        if m := _PLAYBACK_PATH.match(path):
            playback = self.playbacks.get(m["id"])
            if playback is None:
                raise ChannelGone(404, method, path, "Playback not found")
            if method == "DELETE":
                asyncio.get_running_loop().call_soon(self._finish, playback, "done")
                return None
            return playback.as_json()
        if m := _LIVE_RECORDING.match(path):
            name = m["name"]
            if name not in self.recordings:
                raise ChannelGone(404, method, path, "Recording not found")
            if method == "DELETE" or m["rest"] == "/stop":
                asyncio.get_running_loop().call_soon(self.finish_recording, name)
                return None
            return dict(self.recordings[name])
        if path == "/bridges" and method == "POST":
            bridge_id = str(p.get("bridgeId") or uuid.uuid4())
            self.bridges[bridge_id] = {
                "id": bridge_id,
                "bridge_type": str(p.get("type", "mixing")),
                "channels": [],
            }
            return dict(self.bridges[bridge_id])
        if m := _BRIDGE_PATH.match(path):
            return self._bridge_request(method, path, m["id"], m["rest"] or "", p)
        return None

    def _originate(self, p: dict[str, str | int | bool]) -> dict[str, Any]:
        channel_id = str(p.get("channelId") or uuid.uuid4())
        channel = {
            "id": channel_id,
            "name": f"{p.get('endpoint', 'PJSIP/unknown')}-{channel_id}",
            "state": "Down",
            "caller": {"name": "", "number": str(p.get("callerId", ""))},
            "connected": {"name": "", "number": ""},
            "accountcode": "",
            "dialplan": {
                "context": "",
                "exten": "",
                "priority": 1,
                "app_name": "Stasis",
                "app_data": ",".join([str(p.get("app", self.app)), str(p.get("appArgs", ""))]),
            },
            "creationtime": _now(),
            "language": "fi",
        }
        self.channels[channel_id] = channel
        return dict(channel)

    def _channel_request(
        self, method: str, path: str, channel_id: str, rest: str, p: dict[str, str | int | bool]
    ) -> Any:
        channel = self.channels.get(channel_id)
        if channel is None:
            raise ChannelGone(404, method, path, "Channel not found")
        if rest == "":
            if method == "DELETE":
                self.channels.pop(channel_id, None)
                asyncio.get_running_loop().call_soon(self._teardown, channel_id, 16)
                return None
            return dict(channel)
        if channel_id not in self._in_stasis:
            raise NotInStasis(409, method, path, "Channel not in Stasis application")
        if rest == "/answer":
            channel["state"] = "Up"
            return None
        if rest == "/continue":
            self._in_stasis.discard(channel_id)
            # back in the dialplan: GET /channels no longer shows it in Stasis
            channel["dialplan"] = {**channel["dialplan"], "app_name": "", "app_data": ""}
            self._emit_soon({"type": "StasisEnd", "channel": self._channel_ref(channel_id)})
            return None
        if m := _PLAY.match(rest):
            return self._play(channel_id, m["pid"] or str(uuid.uuid4()), p)
        if rest == "/record":
            name = str(p["name"])
            self.recordings[name] = {
                "name": name,
                "format": str(p.get("format", "wav")),
                "channel_id": channel_id,
                "state": "recording",
                "target_uri": f"channel:{channel_id}",
            }
            body = {k: v for k, v in self.recordings[name].items() if k != "channel_id"}
            self._emit_soon({"type": "RecordingStarted", "recording": body})
            return body
        return None

    def _play(self, channel_id: str, playback_id: str, p: dict[str, str | int | bool]) -> Any:
        media = [m for m in str(p.get("media", "")).split(",") if m]
        lang = str(p["lang"]) if "lang" in p else None
        playback = FakePlayback(playback_id, channel_id, media, lang)
        self.playbacks[playback_id] = playback
        self.played.extend((channel_id, m) for m in media)
        loop = asyncio.get_running_loop()
        loop.call_soon(self.emit, {"type": "PlaybackStarted", "playback": playback.as_json()})
        held = self.hold_playbacks or any(m in self.hold_media for m in media)
        if not held:
            duration = sum(self.durations.get(m, self.default_duration) for m in media)
            playback.timer = loop.call_later(duration, self._finish, playback, "done")
        return playback.as_json()

    def _bridge_request(
        self, method: str, path: str, bridge_id: str, rest: str, p: dict[str, str | int | bool]
    ) -> Any:
        bridge = self.bridges.get(bridge_id)
        if bridge is None and method == "POST" and rest == "":  # create with our own id
            bridge = {"id": bridge_id, "bridge_type": str(p.get("type", "mixing")), "channels": []}
            self.bridges[bridge_id] = bridge
            return dict(bridge)
        if bridge is None:
            raise ChannelGone(404, method, path, "Bridge not found")
        if rest == "" and method == "DELETE":
            del self.bridges[bridge_id]
            return None
        if rest in ("/addChannel", "/removeChannel"):
            entering = rest == "/addChannel"
            for channel_id in str(p.get("channel", "")).split(","):
                if channel_id not in self.channels:
                    raise http_error(422, method, path, "Channel not found")
                if entering:
                    bridge["channels"].append(channel_id)
                elif channel_id in bridge["channels"]:
                    bridge["channels"].remove(channel_id)
                self._emit_soon(
                    {
                        "type": "ChannelEnteredBridge" if entering else "ChannelLeftBridge",
                        "bridge": dict(bridge),
                        "channel": self._channel_ref(channel_id),
                    }
                )
            return None
        return dict(bridge)


_MISSING: Any = object()
