"""Channel requests for code that holds a channel id but no :class:`~ivr.ari.call.Call`
(the dispatcher's fast path, :mod:`ivr.flows.fastpath`). They raise the
:mod:`ivr.ari.errors` types as they are."""

from __future__ import annotations

from ivr.ari.protocol import Answered, AriRest, Params, SendsNow

__all__ = ["continue_at", "continue_now", "continue_params", "hang_up"]


def continue_params(
    label: str, context: str | None = None, extension: str | None = None
) -> dict[str, str]:
    """The parameters of a ``continue`` to ``label`` (of ``context``, ``extension``)."""
    params = {"label": label}
    if context is not None:
        params["context"] = context
    if extension is not None:
        params["extension"] = extension
    return params


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
    params = continue_params(label, context, extension)
    await rest.request("POST", f"/channels/{channel_id}/continue", params=params)


def continue_now(now: SendsNow, channel_id: str, params: Params, answered: Answered) -> bool:
    """``POST /channels/{id}/continue`` with ``params`` (:func:`continue_params`) written at
    once; ``answered`` is told how it ended. False: nothing sent (use :func:`continue_at`)."""
    return now.send_now("POST", f"/channels/{channel_id}/continue", params, answered)


async def hang_up(rest: AriRest, channel_id: str, reason: str = "normal") -> None:
    """``DELETE /channels/{id}``."""
    await rest.request("DELETE", f"/channels/{channel_id}", params={"reason": reason})
