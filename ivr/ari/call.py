"""Call: the handle a call flow gets, with a straight-line coroutine API.

The dispatcher puts every event about this channel into the call's own queue. The queue
is drained by whichever wait the flow is in (``play``, ``read_digits``, ``wait_event``,
...) and by state queries (``hung_up``): each event first updates the call's state (hung
up, buffered DTMF digits, finished playbacks), then non-DTMF, non-playback events are
kept in a small backlog that ``wait_event`` matches against, so nothing a later wait
needs is lost while the flow was busy elsewhere. Every wait re-checks that state after
each wake-up, raises :class:`CallHungUp` as soon as the caller is gone and is
cancellable.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol

from ivr.ari.errors import CallHungUp, ChannelGone, NotInStasis
from ivr.ari.protocol import AriRest
from ivr.ari.recordings import LiveRecording

__all__ = ["HANGUP_EVENTS", "Call", "CallRegistry"]

log = logging.getLogger(__name__)

HANGUP_EVENTS = frozenset({"ChannelHangupRequest", "StasisEnd", "ChannelDestroyed"})
RECORDING_END_EVENTS = frozenset({"RecordingFinished", "RecordingFailed"})

Event = dict[str, Any]


class CallRegistry(Protocol):
    """Where a call registers ids whose events must be routed to it (the Dispatcher)."""

    def register_playback(self, call: Call, playback_id: str) -> None: ...

    def unregister_playback(self, playback_id: str) -> None: ...

    def register_recording(self, call: Call, name: str) -> None: ...

    def unregister_recording(self, name: str) -> None: ...


def _str(value: Any) -> str:
    return value if isinstance(value, str) else ""


class Call:
    """One channel in our Stasis application, as seen by its call flow."""

    def __init__(
        self,
        rest: AriRest,
        channel_id: str,
        *,
        args: Sequence[str] = (),
        channel: Mapping[str, Any] | None = None,
        registry: CallRegistry | None = None,
        backlog_size: int = 256,
    ) -> None:
        channel = channel or {}
        caller = channel.get("caller") or {}
        dialplan = channel.get("dialplan") or {}
        self.rest = rest
        self.channel_id = channel_id
        self.args: list[str] = [str(a) for a in args]
        self.channel: dict[str, Any] = dict(channel)
        self.caller_number: str = _str(caller.get("number"))
        self.caller_name: str = _str(caller.get("name"))
        self.dialed: str = _str(dialplan.get("exten"))
        self.context: str = _str(dialplan.get("context"))
        self.language: str = _str(channel.get("language"))

        self._registry = registry
        self._queue: asyncio.Queue[Event] = asyncio.Queue()
        self._wakeup = asyncio.Event()
        self._digits: deque[str] = deque()
        self._backlog: deque[Event] = deque(maxlen=backlog_size)
        self._pending_playbacks: set[str] = set()
        self._finished_playbacks: dict[str, str] = {}
        self._recordings: set[str] = set()
        self._hangup_reason: str | None = None
        self._destroyed = False
        self._released = False
        self._detour = False  # in the dialplan for a while, coming back (run_in_dialplan)
        self._bg_tasks: set[asyncio.Task[None]] = set()

    @classmethod
    def from_stasis_start(
        cls, rest: AriRest, event: Mapping[str, Any], registry: CallRegistry | None = None
    ) -> Call:
        channel = event.get("channel") or {}
        args = event.get("args") or []
        return cls(rest, str(channel["id"]), args=args, channel=channel, registry=registry)

    def __repr__(self) -> str:
        return f"<Call {self.channel_id} hung_up={self._hangup_reason is not None}>"

    # -- event intake -------------------------------------------------------------------

    def deliver(self, event: Event) -> None:
        """Queue an event for this call (called by the dispatcher; never blocks)."""
        self._queue.put_nowait(event)
        self._wakeup.set()

    def _drain(self) -> None:
        while True:
            try:
                event = self._queue.get_nowait()
            except asyncio.QueueEmpty:
                return
            self._process(event)

    def _process(self, event: Event) -> None:
        etype = event.get("type")
        if etype == "ChannelDtmfReceived":
            digit = event.get("digit")
            if isinstance(digit, str) and digit:
                self._digits.append(digit)
            return
        if isinstance(etype, str) and etype.startswith("Playback"):
            playback = event.get("playback") or {}
            pid = playback.get("id")
            if etype == "PlaybackFinished" and isinstance(pid, str):
                self._pending_playbacks.discard(pid)
                self._finished_playbacks[pid] = _str(playback.get("state")) or "done"
                if self._registry is not None:
                    self._registry.unregister_playback(pid)
            return
        if etype == "StasisEnd" and self._detour:
            return  # it left for the dialplan on purpose and comes back
        if etype in HANGUP_EVENTS:
            if etype == "ChannelDestroyed":
                self._destroyed = True
            if self._hangup_reason is None:
                # handed back to the dialplan: its StasisEnd is expected, not a hang-up
                self._mark_gone(str(etype), quiet=self._released)
        self._backlog.append(event)

    def _mark_gone(self, reason: str, *, quiet: bool = False) -> None:
        if self._hangup_reason is None:
            self._hangup_reason = reason
            if not quiet:
                log.info("channel=%s hung up (%s)", self.channel_id, reason)

    async def _pump(self, deadline: float | None) -> bool:
        """Process newly queued events; False if ``deadline`` (loop time) passed first.

        Waits on a wake-up flag rather than on ``queue.get()``: anything may drain the
        queue (``hung_up``, the dispatcher's resync) and the waiting flow must still wake
        up and re-check the state those events changed.
        """
        if not self._queue.empty():
            self._drain()
            return True
        self._wakeup.clear()
        try:
            async with asyncio.timeout_at(deadline):
                await self._wakeup.wait()
        except TimeoutError:
            return False
        self._drain()
        return True

    @staticmethod
    def _deadline(timeout: float | None) -> float | None:
        if timeout is None:
            return None
        return asyncio.get_running_loop().time() + max(timeout, 0.0)

    def _check_alive(self) -> None:
        self._drain()
        if self._hangup_reason is not None:
            raise CallHungUp(self.channel_id, self._hangup_reason)

    # -- state ---------------------------------------------------------------------------

    @property
    def hung_up(self) -> bool:
        self._drain()
        return self._hangup_reason is not None

    @property
    def released(self) -> bool:
        """True once the flow handed the channel back to the dialplan."""
        return self._released

    @property
    def pending_playbacks(self) -> frozenset[str]:
        """Playbacks started on this call whose PlaybackFinished has not arrived."""
        self._drain()
        return frozenset(self._pending_playbacks)

    @property
    def recordings(self) -> frozenset[str]:
        return frozenset(self._recordings)

    # -- REST on this channel ------------------------------------------------------------

    async def _channel_request(
        self,
        method: str,
        suffix: str = "",
        *,
        params: Mapping[str, str | int | bool] | None = None,
        json: Any = None,
    ) -> Any:
        try:
            return await self.rest.request(
                method, f"/channels/{self.channel_id}{suffix}", params=params, json=json
            )
        except (ChannelGone, NotInStasis) as exc:
            self._mark_gone(f"gone: HTTP {exc.status} on {method} {suffix or '/'}")
            raise CallHungUp(self.channel_id, f"gone (HTTP {exc.status})") from exc

    async def answer(self) -> None:
        """Answer the channel; one the dialplan answered before Stasis (its StasisStart said
        ``Up``) costs no request."""
        self._check_alive()
        if self.channel.get("state") == "Up":
            log.debug("channel=%s already answered", self.channel_id)
            return
        await self._channel_request("POST", "/answer")
        log.debug("channel=%s answered", self.channel_id)

    async def hangup(self, reason: str = "normal") -> None:
        """Hang the channel up; a channel that is already gone is fine."""
        self._drain()
        if not self._destroyed:
            try:
                await self.rest.request(
                    "DELETE", f"/channels/{self.channel_id}", params={"reason": reason}
                )
            except (ChannelGone, NotInStasis):
                log.debug("channel=%s already gone at hangup", self.channel_id)
            else:
                log.info("channel=%s hung up by flow (reason=%s)", self.channel_id, reason)
        self._mark_gone("hung up by flow", quiet=True)

    async def continue_in_dialplan(
        self,
        *,
        context: str | None = None,
        extension: str | None = None,
        priority: int | None = None,
        label: str | None = None,
    ) -> None:
        """Leave Stasis and continue in the dialplan; the dispatcher won't hang it up."""
        self._check_alive()
        params: dict[str, str | int | bool] = {}
        for key, value in (
            ("context", context),
            ("extension", extension),
            ("priority", priority),
            ("label", label),
        ):
            if value is not None:
                params[key] = value
        await self._channel_request("POST", "/continue", params=params)
        self._released = True
        log.info("channel=%s continues in dialplan %s", self.channel_id, params or "")

    async def hand_back(self, *, context: str, extension: str, label: str) -> bool:
        """Leave Stasis for ``label`` of ``context,extension`` in one request; False when ARI
        answered 404 (Asterisk checks that the label exists; the channel may also be gone,
        which the caller's next request finds out) and the channel is still the flow's."""
        self._check_alive()
        try:
            await self.rest.request(
                "POST",
                f"/channels/{self.channel_id}/continue",
                params={"context": context, "extension": extension, "label": label},
            )
        except ChannelGone:
            return False
        except NotInStasis as exc:
            self._mark_gone(f"gone: HTTP {exc.status} on POST /continue")
            raise CallHungUp(self.channel_id, f"gone (HTTP {exc.status})") from exc
        self._released = True
        return True

    async def run_in_dialplan(
        self,
        context: str,
        extension: str,
        *,
        timeout: float,  # noqa: ASYNC109 - part of the flow API
        priority: int = 1,
    ) -> Event:
        """Leave Stasis for dialplan that comes back into this app (e.g. ``AMD()`` then
        ``Stasis(...)``); returns the StasisStart of the return (its ``args`` carry what
        the dialplan found). The channel stays this call's: a hang-up meanwhile raises
        CallHungUp, and TimeoutError after ``timeout`` seconds (the leg is still up)."""
        self._check_alive()
        self._detour = True
        try:
            await self._channel_request(
                "POST",
                "/continue",
                params={"context": context, "extension": extension, "priority": priority},
            )
            log.info("channel=%s runs dialplan %s,%s", self.channel_id, context, extension)
            event = await self.wait_event({"StasisStart"}, timeout)
        finally:
            self._detour = False
        log.info("channel=%s back from %s: %s", self.channel_id, context, event.get("args"))
        return event

    # -- music on hold -------------------------------------------------------------------

    async def start_moh(self, moh_class: str | None = None) -> None:
        """Start music on hold (``moh_class`` or the channel's default class).

        Raises the :mod:`ivr.ari.errors` types as they are (not CallHungUp): a failed music
        on hold is for the flow to judge, e.g. against :attr:`hung_up`."""
        params: dict[str, str | int | bool] = {}
        if moh_class is not None:
            params["mohClass"] = moh_class
        await self.rest.request("POST", f"/channels/{self.channel_id}/moh", params=params)

    async def stop_moh(self) -> None:
        """Stop music on hold; raises the :mod:`ivr.ari.errors` types as they are."""
        await self.rest.request("DELETE", f"/channels/{self.channel_id}/moh")

    # -- playback ------------------------------------------------------------------------

    async def start_playback(self, media: str | Sequence[str], *, lang: str | None = None) -> str:
        """Start playing ``media`` (a list plays in sequence); returns the playback id."""
        self._check_alive()
        media_param = media if isinstance(media, str) else ",".join(media)
        if not media_param:
            raise ValueError("no media to play")
        playback_id = str(uuid.uuid4())
        params: dict[str, str | int | bool] = {"media": media_param}
        if lang:
            params["lang"] = lang
        if self._registry is not None:
            # Before the POST: PlaybackStarted may arrive before the response does.
            self._registry.register_playback(self, playback_id)
        try:
            await self._channel_request("POST", f"/play/{playback_id}", params=params)
        except BaseException as exc:
            self._forget_playback(playback_id)
            if isinstance(exc, asyncio.CancelledError):
                self._stop_in_background(playback_id)
            raise
        # Only now is it known to exist (resync asks ARI about pending playbacks). Events
        # are processed only while a wait pumps the queue, so its PlaybackFinished, even
        # if already queued, is processed after this and clears it again.
        self._pending_playbacks.add(playback_id)
        log.debug("channel=%s playback %s started: %s", self.channel_id, playback_id, media_param)
        return playback_id

    def _forget_playback(self, playback_id: str) -> None:
        self._pending_playbacks.discard(playback_id)
        if self._registry is not None:
            self._registry.unregister_playback(playback_id)

    async def stop_playback(self, playback_id: str) -> None:
        """Stop a playback; one that already ended (404) is fine."""
        try:
            await self.rest.request("DELETE", f"/playbacks/{playback_id}")
        except (ChannelGone, NotInStasis):
            log.debug("channel=%s playback %s already ended", self.channel_id, playback_id)

    def _stop_in_background(self, playback_id: str) -> None:
        async def stop() -> None:
            try:
                await self.stop_playback(playback_id)
            except Exception as exc:
                log.debug("channel=%s stopping playback %s: %s", self.channel_id, playback_id, exc)

        task = asyncio.create_task(stop())
        self._bg_tasks.add(task)
        task.add_done_callback(self._bg_tasks.discard)

    async def wait_playback(
        self,
        playback_id: str,
        *,
        timeout: float | None = None,  # noqa: ASYNC109 - part of the flow API
        interrupt_on_dtmf: bool = False,
    ) -> bool:
        """Wait for PlaybackFinished of ``playback_id``.

        Returns True when it finished, False when ``interrupt_on_dtmf`` and a digit is
        buffered (the digit stays buffered for ``read_digits``). Raises CallHungUp if the
        caller goes away and TimeoutError after ``timeout`` seconds.
        """
        deadline = self._deadline(timeout)
        while True:
            self._check_alive()
            state = self._finished_playbacks.pop(playback_id, None)
            if state is not None:
                if state == "failed":
                    log.warning("channel=%s playback %s failed", self.channel_id, playback_id)
                else:
                    log.debug("channel=%s playback %s %s", self.channel_id, playback_id, state)
                return True
            if interrupt_on_dtmf and self._digits:
                return False
            if not await self._pump(deadline):
                raise TimeoutError(f"playback {playback_id} on {self.channel_id} not finished")

    async def play(self, media: str | Sequence[str], *, lang: str | None = None) -> None:
        """Play ``media`` and return once it has finished playing."""
        playback_id = await self.start_playback(media, lang=lang)
        try:
            await self.wait_playback(playback_id)
        except asyncio.CancelledError:
            self._stop_in_background(playback_id)
            raise

    async def prompt_digits(
        self,
        media: str | Sequence[str],
        max_digits: int,
        *,
        first_timeout: float,
        inter_timeout: float,
        terminators: str = "#",
        lang: str | None = None,
    ) -> str:
        """Play a prompt the caller can barge in on with DTMF, then read digits.

        Digits typed ahead (before the prompt) skip the prompt altogether.
        """
        self._check_alive()
        if not self._digits:
            playback_id = await self.start_playback(media, lang=lang)
            try:
                finished = await self.wait_playback(playback_id, interrupt_on_dtmf=True)
            except asyncio.CancelledError:
                self._stop_in_background(playback_id)
                raise
            if not finished:
                log.debug("channel=%s barge-in on playback %s", self.channel_id, playback_id)
                await self.stop_playback(playback_id)
        return await self.read_digits(
            max_digits,
            first_timeout=first_timeout,
            inter_timeout=inter_timeout,
            terminators=terminators,
        )

    # -- DTMF ----------------------------------------------------------------------------

    def clear_digits(self) -> None:
        """Forget digits typed so far (including ones still queued)."""
        self._drain()
        self._digits.clear()

    async def read_digits(
        self,
        max_digits: int,
        *,
        first_timeout: float,
        inter_timeout: float,
        terminators: str = "#",
    ) -> str:
        """Collect DTMF digits, starting with any typed ahead since the last read.

        Returns after ``max_digits`` digits, on a terminator (not included), or when
        ``first_timeout`` passes before the first digit / ``inter_timeout`` after the last
        one ("" if nothing was typed).
        """
        if max_digits < 1:
            raise ValueError("max_digits must be >= 1")
        loop = asyncio.get_running_loop()
        collected: list[str] = []
        deadline = loop.time() + first_timeout
        while True:
            self._check_alive()
            while self._digits:
                digit = self._digits.popleft()
                if digit in terminators:
                    return "".join(collected)
                collected.append(digit)
                if len(collected) >= max_digits:
                    return "".join(collected)
                deadline = loop.time() + inter_timeout
            if not await self._pump(deadline):
                return "".join(collected)

    # -- generic events, recordings ------------------------------------------------------

    async def wait_event(
        self,
        types: set[str] | frozenset[str],
        timeout: float | None = None,  # noqa: ASYNC109 - part of the flow API
        *,
        match: Callable[[Event], bool] | None = None,
        raise_on_hangup: bool = True,
    ) -> Event:
        """Wait for the next event of one of ``types`` (oldest unclaimed first).

        Covers every event routed to this call except DTMF (see ``read_digits``) and
        playback events (see ``wait_playback``). A hang-up event that is itself in
        ``types`` is returned; otherwise a hang-up raises CallHungUp unless
        ``raise_on_hangup`` is False. Raises TimeoutError after ``timeout`` seconds.
        """
        deadline = self._deadline(timeout)
        while True:
            self._drain()
            for event in self._backlog:
                if event.get("type") in types and (match is None or match(event)):
                    self._backlog.remove(event)
                    return event
            if raise_on_hangup and self._hangup_reason is not None:
                raise CallHungUp(self.channel_id, self._hangup_reason)
            if not await self._pump(deadline):
                raise TimeoutError(f"no {sorted(types)} event for {self.channel_id}")

    def register_recording(self, name: str) -> None:
        """Route Recording* events for recording ``name`` to this call."""
        self._recordings.add(name)
        if self._registry is not None:
            self._registry.register_recording(self, name)

    def unregister_recording(self, name: str) -> None:
        self._recordings.discard(name)
        if self._registry is not None:
            self._registry.unregister_recording(name)

    async def start_recording(
        self,
        name: str,
        *,
        format: str = "wav",
        max_duration_seconds: int = 0,
        max_silence_seconds: int = 0,
        beep: bool = False,
        terminate_on: str = "none",
        if_exists: str = "fail",
    ) -> LiveRecording:
        """Start a live recording ``name`` of this channel (events routed to this call)."""
        self._check_alive()
        self.register_recording(name)
        params: dict[str, str | int | bool] = {
            "name": name,
            "format": format,
            "maxDurationSeconds": max_duration_seconds,
            "maxSilenceSeconds": max_silence_seconds,
            "beep": beep,
            "terminateOn": terminate_on,
            "ifExists": if_exists,
        }
        try:
            await self._channel_request("POST", "/record", params=params)
        except BaseException:
            self.unregister_recording(name)
            raise
        log.info("channel=%s recording %s started", self.channel_id, name)
        return self.live_recording(name)

    def live_recording(self, name: str) -> LiveRecording:
        """The handle of live recording ``name`` (started on this call or its bridge)."""
        return LiveRecording(self.rest, name)

    async def wait_recording(
        self,
        name: str,
        timeout: float | None = None,  # noqa: ASYNC109 - part of the flow API
    ) -> Event:
        """Wait for RecordingFinished/RecordingFailed of ``name``, even after a hang-up
        (Asterisk finishes a recording when the caller hangs up), so pass a ``timeout``."""
        event = await self.wait_event(
            set(RECORDING_END_EVENTS),
            timeout,
            match=lambda e: (e.get("recording") or {}).get("name") == name,
            raise_on_hangup=False,
        )
        log.info("channel=%s recording %s: %s", self.channel_id, name, event.get("type"))
        return event
