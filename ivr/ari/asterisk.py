"""Requests about Asterisk itself, not a channel: its global variables and when it started
(for :mod:`ivr.bulletins.direct`). They raise the :mod:`ivr.ari.errors` types as they are."""

from __future__ import annotations

from typing import Any

from ivr.ari.protocol import AriRest

__all__ = ["set_global", "startup_time"]


async def set_global(rest: AriRest, name: str, value: str) -> None:
    """``POST /asterisk/variable``: the global ``name`` is ``value`` (empty: no value).
    Idempotent: the client retries it."""
    await rest.request("POST", "/asterisk/variable", params={"variable": name, "value": value})


async def startup_time(rest: AriRest) -> Any:
    """When Asterisk started (``GET /asterisk/info``'s status): a new value, a restart."""
    info = await rest.request("GET", "/asterisk/info", params={"only": "status"})
    status = info.get("status") if isinstance(info, dict) else None
    return status.get("startup_time") if isinstance(status, dict) else None
