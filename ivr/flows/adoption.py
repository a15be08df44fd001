"""The case of an adopted call (issue 19): a controller restarted on the same node goes on
with its predecessor's case instead of opening a second one.

Each call's case id is derived from its channel (:func:`case_id_for`: the node, the channel
id, its creation time and its Stasis arguments), so the controller that adopts an orphaned
channel (the resync after connecting, the reconciler) finds the case its predecessor opened.
For a channel that was answered before its flow started (a new call never is: the flow
answers it), :meth:`CaseAdoption.resume` takes that case over in Postgres (it is then this
controller's, so the heartbeat never ends it ``node_lost`` as its dead holder's) and hands
its state to the recorder; the flow then puts the caller back where they were (the queue
they waited in, keeping its stay) or at the menu's start.
"""

from __future__ import annotations

import logging
import uuid
from typing import Protocol

from ivr.ari.call import Call
from storage.errors import StorageError
from storage.timing import CaseState

__all__ = ["CaseAdoption", "case_id_for"]

log = logging.getLogger(__name__)

NAMESPACE = uuid.UUID("6c696e6a-612d-4361-7365-2d6964730000")  # of Linja's call case ids


def case_id_for(node: str, call: Call) -> uuid.UUID:
    """The case id of the call on ``call``'s channel (the same for any controller of the
    node; channel ids of two nodes may coincide, so the node is part of it)."""
    created = str(call.channel.get("creationtime") or "")
    return uuid.uuid5(NAMESPACE, "|".join((node, call.channel_id, created, *call.args)))


class Takeover(Protocol):
    """:class:`storage.repositories.case_takeover.CaseTakeover`."""

    async def take(self, case_id: uuid.UUID) -> CaseState | None: ...


class Adopter(Protocol):
    """:class:`storage.recorder.CaseRecorder`."""

    def adopt(self, state: CaseState) -> None: ...


class CaseAdoption:
    def __init__(self, takeover: Takeover, recorder: Adopter, node: str) -> None:
        self._takeover = takeover
        self._recorder = recorder
        self._node = node

    def case_id(self, call: Call) -> uuid.UUID:
        return case_id_for(self._node, call)

    async def resume(self, call: Call, case_id: uuid.UUID) -> CaseState | None:
        """The open case of an adopted call, now this controller's; None for a new call (or
        a case that cannot be taken over: Postgres unavailable). A case ended already comes
        back ended: the call then gets a case of its own."""
        if call.channel.get("state") != "Up":
            return None  # not answered yet: a new call
        try:
            state = await self._takeover.take(case_id)
        except StorageError as exc:
            log.warning(
                "[%s] case %s not taken over (%s): a new case", call.channel_id, case_id, exc
            )
            return None
        if state is None:
            return None
        if state.ended:
            log.warning(
                "[%s] case %s ended already (%s): the adopted call gets a new case",
                call.channel_id,
                case_id,
                state.outcome,
            )
            return state
        self._recorder.adopt(state)
        log.warning(
            "[%s] case %s taken over from its previous controller (call adopted)",
            call.channel_id,
            case_id,
        )
        return state
