"""The admission gate: is the controller beyond what it can serve a new call with?

Three measures, each with a limit from the settings (0: that limit is off):

- flows running (``shed_max_flows``): the configured concurrency cap;
- ARI requests in flight or waiting for a pooled connection (``shed_max_ari_inflight``,
  by default about twice the REST pool);
- event-loop lag (``shed_max_loop_lag`` seconds).

Only call flows that have a dialplan fallback are shed (:data:`SHEDDABLE`): their extension
has a ``shed`` label (``dialplan/linja.conf``) where the bulletin plays from its pre-rendered
file or the call center says its lines are busy.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["SHEDDABLE", "Limits", "LoadGate"]

# Flows whose extensions carry a `shed` label in the dialplan.
SHEDDABLE = frozenset({"announcement", "menu"})


@dataclass(frozen=True)
class Limits:
    max_flows: int = 0
    max_ari_inflight: int = 0
    max_loop_lag: float = 0.0


class LoadGate:
    """``refuse(flow)`` is None to admit a new call of ``flow``, else why it is shed.

    ``flows`` counts the admitted flows running, not the one asking.
    """

    def __init__(
        self,
        limits: Limits,
        *,
        flows: Callable[[], int],
        ari_inflight: Callable[[], int],
        loop_lag: Callable[[], float],
    ) -> None:
        self.limits = limits
        self._flows = flows
        self._ari = ari_inflight
        self._lag = loop_lag

    def refuse(self, flow: str) -> str | None:
        if flow not in SHEDDABLE:
            return None
        lim = self.limits
        if lim.max_flows and self._flows() >= lim.max_flows:
            return "flows"
        if lim.max_ari_inflight and self._ari() > lim.max_ari_inflight:
            return "ari"
        if lim.max_loop_lag and self._lag() > lim.max_loop_lag:
            return "lag"
        return None
