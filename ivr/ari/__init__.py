"""Linja's own thin ARI layer: REST client, event stream, dispatcher and per-call handle."""

from ivr.ari.call import Call
from ivr.ari.client import AriClient
from ivr.ari.dispatcher import Dispatcher
from ivr.ari.errors import (
    AriError,
    AriHttpError,
    AriUnavailable,
    CallHungUp,
    ChannelGone,
    NotInStasis,
)
from ivr.ari.events import EventStream
from ivr.ari.protocol import AriRest

__all__ = [
    "AriClient",
    "AriError",
    "AriHttpError",
    "AriRest",
    "AriUnavailable",
    "Call",
    "CallHungUp",
    "ChannelGone",
    "Dispatcher",
    "EventStream",
    "NotInStasis",
]
