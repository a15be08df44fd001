"""Query-string parsing shared by the list and report routes: each parameter at most once
and known, and ISO 8601 times with their UTC offset. Errors are collected per parameter (the
caller raises one BadInput naming them all)."""

from __future__ import annotations

import re
from collections.abc import Collection
from datetime import datetime

from multidict import MultiMapping

__all__ = ["parse_time", "single_values", "times"]

_LOST_PLUS = re.compile(r"^(.*\d) (\d{2}(?::?\d{2})?)$")  # "…T10:00 02:00": the + of +02:00


def parse_time(text: str) -> datetime:
    """An ISO 8601 time with a UTC offset; ValueError otherwise. A ``+`` that a URL turned
    into a space (``?from=2026-12-01T08:00+02:00`` unencoded) is put back."""
    m = _LOST_PLUS.match(text)
    if m is not None:
        text = f"{m[1]}+{m[2]}"
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError("not an ISO 8601 time such as 2026-12-01T08:00:00+02:00") from None
    if value.utcoffset() is None:
        raise ValueError("needs a UTC offset (Z or +02:00)")
    return value


def single_values(
    query: MultiMapping[str], known: Collection[str], errors: dict[str, str]
) -> dict[str, str]:
    """Each known parameter's one value; an unknown one, or one given twice, is an error."""
    out: dict[str, str] = {}
    for key in dict.fromkeys(query.keys()):
        if key not in known:
            errors[key[:40]] = "unknown parameter"
        elif len(query.getall(key)) > 1:
            errors[key] = "given more than once"
        else:
            out[key] = query[key]
    return out


def times(
    q: dict[str, str], errors: dict[str, str], keys: tuple[str, str] = ("from", "to")
) -> dict[str, datetime]:
    """The parsed times of ``keys`` that are given; a bad one is an error under its name."""
    found: dict[str, datetime] = {}
    for key in keys:
        if key in q:
            try:
                found[key] = parse_time(q[key])
            except ValueError as exc:
                errors[key] = str(exc)
    return found
