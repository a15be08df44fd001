"""Bridge: the handle of one ARI bridge whose id the client chose.

::

    Bridge.create(rest, id) ──POST /bridges/{id}?type=mixing──> bridge
        add(channel, ...)     POST   /bridges/{id}/addChannel
        remove(channel, ...)  POST   /bridges/{id}/removeChannel
        record(name, ...)     POST   /bridges/{id}/record  -> LiveRecording
        destroy()             DELETE /bridges/{id}

Failures raise the types of :mod:`ivr.ari.errors` (404 ``ChannelGone`` for a bridge that is
gone, 409/412 ``NotInStasis`` when a channel is not ours or in the wrong state, others
``AriHttpError``); a channel gone meanwhile usually shows as a 422 ``AriHttpError``.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from ivr.ari.protocol import AriRest
from ivr.ari.recordings import LiveRecording

__all__ = ["Bridge"]

log = logging.getLogger(__name__)


class Bridge:
    def __init__(self, rest: AriRest, bridge_id: str) -> None:
        self.rest = rest
        self.id = bridge_id

    def __repr__(self) -> str:
        return f"<Bridge {self.id}>"

    @classmethod
    async def create(cls, rest: AriRest, bridge_id: str, *, type: str = "mixing") -> Bridge:
        """Create (or, same id, update) the bridge ``bridge_id``."""
        await rest.request("POST", f"/bridges/{bridge_id}", params={"type": type})
        log.debug("bridge %s created (%s)", bridge_id, type)
        return cls(rest, bridge_id)

    @staticmethod
    def _channels(channel_ids: Iterable[str]) -> str:
        joined = ",".join(channel_ids)
        if not joined:
            raise ValueError("no channel given")
        return joined

    async def add(self, *channel_ids: str) -> None:
        await self.rest.request(
            "POST",
            f"/bridges/{self.id}/addChannel",
            params={"channel": self._channels(channel_ids)},
        )

    async def remove(self, *channel_ids: str) -> None:
        await self.rest.request(
            "POST",
            f"/bridges/{self.id}/removeChannel",
            params={"channel": self._channels(channel_ids)},
        )

    async def destroy(self) -> None:
        await self.rest.request("DELETE", f"/bridges/{self.id}")
        log.debug("bridge %s destroyed", self.id)

    async def record(
        self,
        name: str,
        *,
        format: str = "wav",
        if_exists: str = "fail",
        terminate_on: str = "none",
        max_duration_seconds: int = 0,
        max_silence_seconds: int = 0,
        beep: bool = False,
    ) -> LiveRecording:
        """Record the bridge's mixed audio as ``name``; the events go to whichever call
        registered ``name`` (register it before: RecordingStarted may beat the answer)."""
        await self.rest.request(
            "POST",
            f"/bridges/{self.id}/record",
            params={
                "name": name,
                "format": format,
                "ifExists": if_exists,
                "terminateOn": terminate_on,
                "maxDurationSeconds": max_duration_seconds,
                "maxSilenceSeconds": max_silence_seconds,
                "beep": beep,
            },
        )
        return LiveRecording(self.rest, name)
