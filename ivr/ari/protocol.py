"""The one interface call flows and the dispatcher need from ARI's REST side."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

__all__ = ["AriRest", "Params"]

Params = Mapping[str, str | int | bool]


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
