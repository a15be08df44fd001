"""The one interface call flows and the dispatcher need from ARI's REST side."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Protocol

from ivr.ari.errors import AriError

__all__ = ["Answered", "AriRest", "Params", "SendsNow"]

Params = Mapping[str, str | int | bool]

# Told how a request written with :meth:`SendsNow.send_now` ended: its status (0 when it got
# none) and, for a failure, the error an awaited request would have raised.
Answered = Callable[[int, AriError | None], None]


class AriRest(Protocol):
    """A REST transport to ARI.

    ``path`` is relative to the ARI root, e.g. ``/channels/{id}/answer``. The result is the
    decoded JSON body, or None for 204/empty bodies. Failures raise the types from
    :mod:`ivr.ari.errors` (``AriUnavailable``, ``ChannelGone``, ``NotInStasis``,
    ``AriHttpError``).
    """

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: Params | None = None,
        json: Any = None,
    ) -> Any: ...


class SendsNow(Protocol):
    """Requests written at once, with no task: their answer is told to a callback
    (:meth:`ivr.ari.wsrest.WsRest.send_now`). False: nothing was sent (use ``request``)."""

    def send_now(
        self, method: str, path: str, params: Params | None, answered: Answered
    ) -> bool: ...
