"""Originate: a new channel dialled into the Stasis app, as one typed request.

The channel id is the client's, so the leg can be adopted (its events routed) before
Asterisk is asked for it. ``timeout`` is how long it rings before Asterisk gives up.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from ivr.ari.protocol import AriRest

__all__ = ["Originate", "originate"]


@dataclass(frozen=True)
class Originate:
    endpoint: str  # e.g. PJSIP/agent1, PJSIP/customers/sip:0401234567@127.0.0.1:5070
    app: str
    app_args: str
    channel_id: str
    timeout: int  # seconds of ringing
    caller_id: str | None = None
    # Channel variables set before it rings (the dialplan reads them, e.g. after continue).
    variables: Mapping[str, str] = field(default_factory=dict)

    def params(self) -> dict[str, str | int | bool]:
        params: dict[str, str | int | bool] = {
            "endpoint": self.endpoint,
            "app": self.app,
            "appArgs": self.app_args,
            "channelId": self.channel_id,
            "timeout": self.timeout,
        }
        if self.caller_id is not None:
            params["callerId"] = self.caller_id
        return params


async def originate(rest: AriRest, request: Originate) -> None:
    """Ask Asterisk to dial ``request``; raises the :mod:`ivr.ari.errors` types."""
    body = {"variables": dict(request.variables)} if request.variables else None
    await rest.request("POST", "/channels", params=request.params(), json=body)
