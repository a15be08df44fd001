"""Deltas between two wallboard documents, and applying them. Pure.

A delta is a list of changes ``{"path": [...], "value": v}`` (set) or ``{"path": [...]}``
with ``"remove": true``; paths go at most ``MAX_DEPTH`` levels into nested objects (deeper
changes replace the object at that level; lists are values). ``apply(diff(a, b), a) == b``.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

MAX_DEPTH = 3


def diff(old: Mapping[str, Any], new: Mapping[str, Any], depth: int = MAX_DEPTH) -> list[Any]:
    changes: list[dict[str, Any]] = []
    _diff(old, new, [], depth, changes)
    return changes


def _diff(
    old: Mapping[str, Any],
    new: Mapping[str, Any],
    path: list[str],
    depth: int,
    out: list[dict[str, Any]],
) -> None:
    for key in old:
        if key not in new:
            out.append({"path": [*path, key], "remove": True})
    for key, value in new.items():
        if key in old and old[key] == value:
            continue
        before = old.get(key)
        if depth > 1 and isinstance(before, Mapping) and isinstance(value, Mapping):
            _diff(before, value, [*path, key], depth - 1, out)
        else:
            out.append({"path": [*path, key], "value": value})


def apply(changes: list[Any], doc: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of ``doc`` with ``changes`` applied (what the page's script does)."""
    out: dict[str, Any] = copy.deepcopy(dict(doc))
    for change in changes:
        *parents, last = change["path"]
        node = out
        for key in parents:
            node = node.setdefault(key, {})
        if change.get("remove"):
            node.pop(last, None)
        else:
            node[last] = copy.deepcopy(change["value"])
    return out
