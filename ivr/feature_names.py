"""The controller's features in wiring order: ``ivr/features/<name>/feature.py`` each, a
feature may use what an earlier one offers (``core.services``). A module of its own, without
imports, so that the ``linja`` command reads the list without loading the controller."""

from __future__ import annotations

__all__ = ["FEATURES"]

FEATURES = (
    "heartbeat",  # first: the wallboard shows the nodes from it
    "bulletins",
    "callcenter",
    "recordings",
    "callbacks",
    "menus",
    "contacts",
    "sweep",
    "subjects",
    "cases",
    "logins",
    "callout",
    "wallboard",
    "transcripts",
    "admin",
    "capacity",
    "console",  # last: its pages use what the features before it offer
)
