"""Dispatcher: routes ARI events to calls and runs one flow task per call.

``on_event`` is synchronous and O(1) per event (dict look-ups only): it never awaits, so
the websocket reader is never held up. Each StasisStart for a new channel starts one task
running ``handler(call)``; a slow or crashing flow never delays or kills another one.

A :class:`FastPath` (:attr:`Dispatcher.fast`) may take a StasisStart before any of that: it
answers the call with its own requests (a bulletin call handed straight to its dialplan
fallback file, :mod:`ivr.flows.fastpath`) with no :class:`Call`, no flow and one small task,
or no task at all: a :class:`FastSent` is a call whose one request is already written, and
the fast path settles it from that request's answer. While either is open the channel
counts as tracked (the reconciler leaves it alone); when the work fails on ARI the channel
is continued at ``fallback_label`` once and else is the reconciler's, as for a flow that
failed; when it returns a handler, that handler runs as the call's flow after all.
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Coroutine, Iterable
from functools import partial
from typing import Any, Protocol

from ivr.ari.call import Call
from ivr.ari.channels import continue_at, hang_up
from ivr.ari.errors import AriError, CallHungUp, ChannelGone
from ivr.ari.protocol import AriRest

__all__ = ["Dispatcher", "FastPath", "FastSent", "Handler", "stasis_args"]

log = logging.getLogger(__name__)

Handler = Callable[[Call], Awaitable[None]]
Event = dict[str, Any]

FastWork = Coroutine[Any, Any, Handler | None]


class FastSent:
    """A fast-path call whose request is written and not answered yet: no task waits for
    it. The fast path calls :meth:`settle` once: with None when the call is served, or with
    work to run as a task after all (a retry, a handler)."""

    __slots__ = ("_settled",)

    def __init__(self) -> None:
        self._settled: Callable[[FastWork | None], None] | None = None

    def settle(self, work: FastWork | None) -> None:
        settled, self._settled = self._settled, None
        if settled is not None:
            settled(work)
        elif work is not None:
            work.close()  # nobody to run it (the dispatcher let the call go)


class FastPath(Protocol):
    def take(self, channel_id: str, event: dict[str, Any]) -> FastWork | FastSent | None:
        """The work that serves this new call without a flow, or None for the full path.
        The work returns None when the call is served, or a handler to run as its flow."""
        ...


_END_EVENTS = frozenset({"StasisEnd", "ChannelDestroyed"})
_RECENTLY_ENDED = 16384  # about a minute of ended calls at 300 calls/s


def _target_channel(obj: Any) -> str | None:
    """``{"target_uri": "channel:<id>"}`` -> ``<id>``."""
    if isinstance(obj, dict):
        uri = obj.get("target_uri")
        if isinstance(uri, str) and uri.startswith("channel:"):
            return uri.removeprefix("channel:")
    return None


def _channel_id(event: Event) -> str | None:
    channel = event.get("channel")
    if isinstance(channel, dict):
        cid = channel.get("id")
        if isinstance(cid, str) and cid:
            return cid
    return None


def stasis_args(channel: Any, app: str) -> list[str] | None:
    """The Stasis arguments of a channel (as ``GET /channels`` lists it) that sits in
    application ``app``; None when it is elsewhere."""
    if not isinstance(channel, dict):
        return None
    dialplan = channel.get("dialplan") or {}
    if dialplan.get("app_name") != "Stasis":
        return None
    name, *args = str(dialplan.get("app_data") or "").split(",")
    return args if name.strip() == app else None


class Dispatcher:
    """Routes events to :class:`Call` handles; implements their ``CallRegistry``.

    ``app``: our Stasis application name; when given, ``resync`` also starts flows for
    channels that entered the application while events were lost.
    """

    def __init__(
        self,
        rest: AriRest,
        handler: Handler,
        *,
        app: str | None = None,
        hangup_on_exit: bool = True,
        hangup_timeout: float = 2.0,
        resync_concurrency: int = 32,
        fallback_label: str | None = None,
    ) -> None:
        self._rest = rest
        self._handler = handler
        self._app = app
        self._hangup_on_exit = hangup_on_exit
        self._hangup_timeout = hangup_timeout
        self._fallback_label = fallback_label
        self._failed: OrderedDict[str, None] = OrderedDict()  # flows that died on ARI
        self._resync_concurrency = resync_concurrency
        self._calls: dict[str, Call] = {}
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._playbacks: dict[str, Call] = {}
        self._recordings: dict[str, Call] = {}
        self._ended: OrderedDict[str, None] = OrderedDict()
        self._aux_tasks: set[asyncio.Task[None]] = set()
        self._fast_tasks: dict[str, asyncio.Task[None]] = {}  # fast-path calls in flight
        self._fast_sent: dict[str, FastSent] = {}  # ... and those with no task
        self.fast: FastPath | None = None
        self._idle = asyncio.Event()
        self._idle.set()
        self._closing = False
        self.calls_started = 0

    # -- introspection -------------------------------------------------------------------

    @property
    def active_calls(self) -> int:
        """Number of calls being served: flows running and fast-path calls in flight."""
        return len(self._tasks) + self.fast_in_flight

    @property
    def fast_in_flight(self) -> int:
        """Fast-path calls whose requests are not answered yet."""
        return len(self._fast_tasks) + len(self._fast_sent)

    def get_call(self, channel_id: str) -> Call | None:
        return self._calls.get(channel_id)

    def flow_channels(self) -> frozenset[str]:
        """Channels whose call flow is running."""
        return frozenset(self._tasks)

    def tracks(self, channel_id: str) -> bool:
        """Whether events of ``channel_id`` reach a call (a flow, or an adopted channel), or
        its fast-path requests are in flight."""
        return (
            channel_id in self._calls
            or channel_id in self._fast_tasks
            or channel_id in self._fast_sent
        )

    def ended_recently(self, channel_id: str) -> bool:
        """Whether a call on ``channel_id`` ended lately (among the last 16384)."""
        return channel_id in self._ended

    def failed_recently(self, channel_id: str) -> bool:
        """Whether the flow of ``channel_id`` ended lately on a failed ARI request."""
        return channel_id in self._failed

    def end_vanished(self, channel_id: str, why: str) -> None:
        """End the call of a channel Asterisk no longer has (its events were lost)."""
        self.on_event(
            {
                "type": "ChannelDestroyed",
                "channel": {"id": channel_id},
                "cause": 16,
                "cause_txt": why,
                "synthetic": True,
            }
        )

    def start_orphan(self, channel: dict[str, Any], args: list[str]) -> None:
        """Start the flow of a channel in our application whose StasisStart was lost."""
        self.on_event({"type": "StasisStart", "channel": channel, "args": args, "synthetic": True})

    # -- CallRegistry --------------------------------------------------------------------

    def register_playback(self, call: Call, playback_id: str) -> None:
        self._playbacks[playback_id] = call

    def unregister_playback(self, playback_id: str) -> None:
        self._playbacks.pop(playback_id, None)

    def register_recording(self, call: Call, name: str) -> None:
        self._recordings[name] = call

    def unregister_recording(self, name: str) -> None:
        self._recordings.pop(name, None)

    # -- routing -------------------------------------------------------------------------

    def on_event(self, event: Event) -> None:
        """Route one event. Synchronous and non-blocking; safe to call from the reader."""
        etype = event.get("type")
        if not isinstance(etype, str):
            log.debug("ignoring event without type")
            return
        if etype == "StasisStart":
            self._on_stasis_start(event)
            return

        call: Call | None
        if etype.startswith("Playback"):
            playback = event.get("playback") or {}
            call = self._playbacks.get(str(playback.get("id")))
            if call is None:
                call = self._calls.get(_target_channel(playback) or "")
            elif etype == "PlaybackFinished":
                self._playbacks.pop(str(playback.get("id")), None)
        elif etype.startswith("Recording"):
            recording = event.get("recording") or {}
            call = self._recordings.get(str(recording.get("name")))
            if call is None:
                call = self._calls.get(_target_channel(recording) or "")
        else:
            call = self._calls.get(_channel_id(event) or "")

        if call is None:
            log.debug("ignoring %s for untracked channel %s", etype, _channel_id(event))
            return
        call.deliver(event)
        if etype in _END_EVENTS:
            log.debug("channel=%s %s", call.channel_id, etype)
            if etype == "ChannelDestroyed" and call.channel_id not in self._tasks:
                self._forget(call)  # an adopted channel without a flow task

    def _on_stasis_start(self, event: Event) -> None:
        cid = _channel_id(event)
        if cid is None:
            log.debug("ignoring StasisStart without channel id")
            return
        existing = self._calls.get(cid)
        if existing is not None:
            existing.deliver(event)
            return
        if self._closing:
            log.warning("channel=%s arrived during shutdown; hanging up", cid)
            self._spawn(self._reject(cid))
            return
        if self.fast is not None and not self._fast_open(cid):
            work = self.fast.take(cid, event)
            if work is not None:
                self.calls_started += 1
                self._idle.clear()
                if isinstance(work, FastSent):
                    self._fast_sent[cid] = work
                    work._settled = partial(self._fast_settled, cid, event)
                else:
                    self._run_fast_task(cid, event, work)
                return
        self.calls_started += 1
        self._start_call(event, cid, self._handler)

    def _start_call(self, event: Event, cid: str, handler: Handler) -> None:
        call = Call.from_stasis_start(self._rest, event, registry=self)
        self._calls[cid] = call
        task = asyncio.create_task(self._run_call(call, handler), name=f"call-{cid}")
        self._tasks[cid] = task
        self._idle.clear()
        task.add_done_callback(partial(self._call_done, call))

    def _fast_open(self, cid: str) -> bool:
        return cid in self._fast_tasks or cid in self._fast_sent

    def _run_fast_task(self, cid: str, event: Event, work: FastWork) -> None:
        fast = asyncio.create_task(self._run_fast(cid, event, work))
        self._fast_tasks[cid] = fast
        fast.add_done_callback(partial(self._fast_done, cid))

    def _fast_settled(self, cid: str, event: Event, work: FastWork | None) -> None:
        self._fast_sent.pop(cid, None)
        if work is not None:
            self._run_fast_task(cid, event, work)
            return
        self._note_ended(cid)
        self._idle_if_done()

    async def _run_fast(self, cid: str, event: Event, work: FastWork) -> None:
        try:
            handler = await work
        except AriError as exc:
            log.error("channel=%s call flow failed on ARI: %s", cid, exc)  # fast path: same words
            self._note_failed(cid)
            self._note_ended(cid)
            await self._continue_at_fallback(cid)
            return
        except Exception:
            log.exception("channel=%s fast path failed", cid)
            self._note_ended(cid)  # the reconciler hangs it up if it stayed
            return
        if handler is None:
            self._note_ended(cid)
        elif self._calls.get(cid) is None:
            self._start_call(event, cid, handler)  # after all, a flow (and its Call)

    def _fast_done(self, cid: str, task: asyncio.Task[None]) -> None:
        if self._fast_tasks.get(cid) is task:
            del self._fast_tasks[cid]
        self._idle_if_done()

    def _idle_if_done(self) -> None:
        if not self._tasks and not self.fast_in_flight:
            self._idle.set()

    def _note_ended(self, cid: str) -> None:
        self._ended[cid] = None
        if len(self._ended) > _RECENTLY_ENDED:
            self._ended.popitem(last=False)

    def _note_failed(self, cid: str) -> None:
        self._failed[cid] = None
        if len(self._failed) > _RECENTLY_ENDED:
            self._failed.popitem(last=False)

    def adopt(self, channel_id: str, *, args: Iterable[str] = ()) -> Call:
        """Track a channel this application is about to originate (client-chosen id).

        Its events (including its StasisStart) go to the returned Call; no flow task is
        started. It is forgotten on ChannelDestroyed or ``release()``.
        """
        if channel_id in self._calls:
            raise ValueError(f"channel {channel_id} is already tracked")
        call = Call(self._rest, channel_id, args=list(args), registry=self)
        self._calls[channel_id] = call
        return call

    def release(self, call: Call) -> None:
        """Stop routing events to an adopted call."""
        if self._calls.get(call.channel_id) is call and call.channel_id not in self._tasks:
            self._forget(call)

    def _forget(self, call: Call) -> None:
        cid = call.channel_id
        if self._calls.get(cid) is call:
            del self._calls[cid]
        for pid in call.pending_playbacks:
            if self._playbacks.get(pid) is call:
                del self._playbacks[pid]
        # Recordings stay routed to the call until it unregisters them: a bridge recording
        # outlives the channel it was started from (an agent leg that hung up first), and its
        # RecordingFinished must still reach the flow that finalises it.
        self._note_ended(cid)

    # -- per-call task -------------------------------------------------------------------

    async def _run_call(self, call: Call, handler: Handler) -> None:
        cid = call.channel_id
        # Debug only: a flow logs what it does with the channel id (one line a bulletin call).
        log.debug("channel=%s call started dialed=%s args=%s", cid, call.dialed, call.args)
        try:
            await handler(call)
        except CallHungUp as exc:
            log.info("channel=%s call ended: %s", cid, exc)
        except asyncio.CancelledError:
            log.info("channel=%s call flow cancelled", cid)
            await self._hangup_leftover(call)
            raise
        except AriError as exc:
            # Asterisk refused or dropped a request the flow needed: the caller goes on in
            # the dialplan's fallback if it can; if not, the channel is the reconciler's
            # (ivr/ari/reconciler.py), which settles it on its next passes.
            log.error("channel=%s call flow failed on ARI: %s", cid, exc)
            self._note_failed(cid)
            if await self._fall_back(call):
                return
        except Exception:
            log.exception("channel=%s call flow failed", cid)
        else:
            log.debug("channel=%s call flow finished", cid)
        await self._hangup_leftover(call)

    async def _fall_back(self, call: Call) -> bool:
        """Continue a call whose flow failed at ``fallback_label`` of its extension; False
        when there is none (or ARI refuses that too): the caller hangs up the leftover."""
        if call.released or call.hung_up:
            return False
        return await self._continue_at_fallback(call.channel_id)

    async def _continue_at_fallback(self, cid: str) -> bool:
        if self._fallback_label is None:
            return False
        try:
            async with asyncio.timeout(self._hangup_timeout):
                await continue_at(self._rest, cid, label=self._fallback_label)
        except ChannelGone:
            log.info("channel=%s has no dialplan label %s", cid, self._fallback_label)
            return False
        except (AriError, TimeoutError) as exc:
            log.warning("channel=%s fallback failed (left to the reconciler): %s", cid, exc)
            return True  # a hang-up would meet the same refusal
        log.info("channel=%s continues at dialplan label %s", cid, self._fallback_label)
        return True

    async def _hangup_leftover(self, call: Call) -> None:
        """A flow that ended without hanging up (or crashed) must not leave dead air."""
        if not self._hangup_on_exit or call.released or call.hung_up:
            return
        try:
            async with asyncio.timeout(self._hangup_timeout):
                await call.hangup()
        except (AriError, TimeoutError) as exc:
            log.warning(
                "channel=%s hang-up after flow end failed (left to the reconciler): %s",
                call.channel_id,
                exc,
            )

    def _call_done(self, call: Call, task: asyncio.Task[None]) -> None:
        cid = call.channel_id
        if self._tasks.get(cid) is task:
            del self._tasks[cid]
        self._forget(call)
        log.debug("channel=%s forgotten (%d calls active)", cid, len(self._tasks))
        self._idle_if_done()

    async def _reject(self, channel_id: str) -> None:
        try:
            await hang_up(self._rest, channel_id, "congestion")
        except AriError as exc:
            log.debug("channel=%s reject failed: %s", channel_id, exc)

    def _spawn(self, coro: Awaitable[None]) -> None:
        async def run() -> None:
            await coro

        task = asyncio.create_task(run())
        self._aux_tasks.add(task)
        task.add_done_callback(self._aux_tasks.discard)

    # -- resync after an event gap -------------------------------------------------------

    async def resync(self) -> None:
        """Repair state after events were lost (call from ``on_connected(True)``).

        Calls whose channel no longer exists get a synthetic ChannelDestroyed; playbacks
        a call is waiting on that no longer exist get a synthetic PlaybackFinished.
        """
        tracked = dict(self._calls)  # snapshot *before* asking: later arrivals are live
        try:
            channels = await self._rest.request("GET", "/channels")
        except AriError as exc:
            log.warning("resync: listing channels failed: %s", exc)
            return
        live: dict[str, dict[str, Any]] = {}
        for channel in channels if isinstance(channels, list) else []:
            if isinstance(channel, dict) and isinstance(channel.get("id"), str):
                live[channel["id"]] = channel

        gone = 0
        for cid, call in tracked.items():
            if cid not in live and not call.hung_up:
                gone += 1
                log.info("channel=%s vanished during the event gap; ending its call", cid)
                self.end_vanished(cid, "gone while ARI events were lost")
        started = self._start_orphans(live)

        waiting = [
            (call, pid)
            for cid, call in tracked.items()
            if cid in live and self._calls.get(cid) is call and not call.hung_up
            for pid in call.pending_playbacks
        ]
        semaphore = asyncio.Semaphore(self._resync_concurrency)
        results = await asyncio.gather(
            *(self._check_playback(semaphore, call, pid) for call, pid in waiting)
        )
        log.info(
            "resync: %d tracked, %d gone, %d orphans started, %d/%d playbacks ended",
            len(tracked),
            gone,
            started,
            sum(results),
            len(waiting),
        )

    async def _check_playback(self, semaphore: asyncio.Semaphore, call: Call, pid: str) -> bool:
        async with semaphore:
            try:
                await self._rest.request("GET", f"/playbacks/{pid}")
            except ChannelGone:
                pass
            except AriError as exc:
                log.warning(
                    "channel=%s resync: playback %s check failed: %s", call.channel_id, pid, exc
                )
                return False
            else:
                return False
        log.info("channel=%s playback %s ended during the event gap", call.channel_id, pid)
        self.on_event(
            {
                "type": "PlaybackFinished",
                "playback": {
                    "id": pid,
                    "target_uri": f"channel:{call.channel_id}",
                    "state": "done",
                },
                "synthetic": True,
            }
        )
        return True

    def _start_orphans(self, live: dict[str, dict[str, Any]]) -> int:
        """Start flows for channels sitting in our app whose StasisStart was lost."""
        if self._app is None or self._closing:
            return 0
        started = 0
        for cid, channel in live.items():
            if cid in self._calls or cid in self._ended:
                continue
            args = stasis_args(channel, self._app)
            if args is None:
                continue
            log.warning("channel=%s in app %s without a flow; starting one", cid, self._app)
            self.start_orphan(channel, args)
            started += 1
        return started

    # -- lifecycle -----------------------------------------------------------------------

    async def wait_idle(
        self,
        timeout: float | None = None,  # noqa: ASYNC109 - returns False instead of raising
    ) -> bool:
        """Wait until no call flow is running; False if ``timeout`` passed first."""
        try:
            async with asyncio.timeout(timeout):
                await self._idle.wait()
        except TimeoutError:
            return False
        return True

    async def shutdown(self, timeout: float = 5.0) -> None:  # noqa: ASYNC109 - grace period
        """Refuse new calls, give running flows ``timeout`` seconds, then cancel them."""
        self._closing = True
        if not await self.wait_idle(timeout):
            tasks = [*self._tasks.values(), *self._fast_tasks.values()]
            log.warning("shutdown: cancelling %d call flows", len(tasks))
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            sent, self._fast_sent = self._fast_sent, {}
            for item in sent.values():
                item._settled = None  # its answer, if it comes, settles nothing
            if sent:
                log.warning("shutdown: %d fast-path calls unanswered (the reconciler's)", len(sent))
        if self._aux_tasks:
            await asyncio.gather(*self._aux_tasks, return_exceptions=True)
        log.info("dispatcher shut down")
