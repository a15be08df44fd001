"""Channel requests for code that holds a channel id but no :class:`~ivr.ari.call.Call`
(the dispatcher's fast path, :mod:`ivr.flows.fastpath`). They raise the
:mod:`ivr.ari.errors` types as they are."""

from __future__ import annotations

from ivr.ari.protocol import AriRest

__all__ = ["continue_at", "hang_up"]


async def continue_at(
    rest: AriRest,
    channel_id: str,
    *,
    label: str,
    context: str | None = None,
    extension: str | None = None,
) -> None:
    """``POST /channels/{id}/continue``: leave Stasis for ``label`` (of ``context``,
    ``extension``, or the channel's own). Idempotent: the client retries it."""
    params = {"label": label}
    if context is not None:
        params["context"] = context
    if extension is not None:
        params["extension"] = extension
    await rest.request("POST", f"/channels/{channel_id}/continue", params=params)


async def hang_up(rest: AriRest, channel_id: str, reason: str = "normal") -> None:
    """``DELETE /channels/{id}``."""
    await rest.request("DELETE", f"/channels/{channel_id}", params={"reason": reason})
