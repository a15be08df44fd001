"""LiveRecording: the handle of one recording in progress (of a channel or a bridge).

ARI names live recordings by the client-chosen name given when the recording started; this
handle only wraps ``/recordings/live/{name}``. Its events (RecordingStarted/Finished/Failed)
reach the call that registered the name (:meth:`ivr.ari.call.Call.register_recording`).
Failures raise the types of :mod:`ivr.ari.errors`: ``ChannelGone`` (404) when Asterisk no
longer has the recording, ``NotInStasis`` (409) when it is in the wrong state.
"""

from __future__ import annotations

import logging
from typing import Any

from ivr.ari.protocol import AriRest

__all__ = ["LiveRecording"]

log = logging.getLogger(__name__)


class LiveRecording:
    def __init__(self, rest: AriRest, name: str) -> None:
        self.rest = rest
        self.name = name

    def __repr__(self) -> str:
        return f"<LiveRecording {self.name}>"

    async def _request(self, method: str, action: str = "") -> Any:
        return await self.rest.request(method, f"/recordings/live/{self.name}{action}")

    async def stop(self) -> None:
        """Stop and keep the file; RecordingFinished follows."""
        await self._request("POST", "/stop")
        log.debug("recording %s: stop asked", self.name)

    async def cancel(self) -> None:
        """Stop and discard the file."""
        await self._request("DELETE")
        log.debug("recording %s: cancelled", self.name)

    async def pause(self) -> None:
        await self._request("POST", "/pause")

    async def unpause(self) -> None:
        await self._request("DELETE", "/pause")

    async def mute(self) -> None:
        """Record silence instead of the audio (the file keeps its length)."""
        await self._request("POST", "/mute")

    async def unmute(self) -> None:
        await self._request("DELETE", "/mute")
