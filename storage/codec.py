"""JSON lines for case states (the spool's format). No I/O.

One line is one :class:`~storage.timing.CaseState` snapshot: UUIDs as strings, times as ISO
8601 with offset, durations as integer microseconds, enums as their values. Version 1 of the
format is tagged ``"v": 1`` so a later release can still replay an old spool; a field added
later with a default (a case's ``menu_choices`` and ``offers``) may be missing from a line.
"""

from __future__ import annotations

import dataclasses
import json
import types
import typing
import uuid
from datetime import datetime, timedelta
from enum import Enum
from functools import cache
from typing import Any, TypeVar

from storage.timing import CaseState

FORMAT_VERSION = 1
T = TypeVar("T")


class BadLine(ValueError):
    """A spool line that cannot be decoded."""


def _encode(value: Any) -> Any:
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}")
        return value.isoformat()
    if isinstance(value, timedelta):
        return (value.days * 86_400 + value.seconds) * 1_000_000 + value.microseconds
    if isinstance(value, tuple | list):
        return [_encode(v) for v in value]
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _encode(getattr(value, f.name)) for f in dataclasses.fields(value)}
    raise TypeError(f"cannot encode {type(value).__name__}")


@cache
def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _has_default(f: dataclasses.Field[Any]) -> bool:
    return f.default is not dataclasses.MISSING or f.default_factory is not dataclasses.MISSING


def _decode(tp: Any, raw: Any) -> Any:
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if raw is None:
            return None
        return _decode(args[0], raw)
    if origin is tuple:
        (item, _ellipsis) = typing.get_args(tp)
        return tuple(_decode(item, r) for r in raw)
    if raw is None:
        raise ValueError(f"null for {tp}")
    if tp is uuid.UUID:
        return uuid.UUID(raw)
    if tp is datetime:
        value = datetime.fromisoformat(raw)
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {raw!r}")
        return value
    if tp is timedelta:
        return timedelta(microseconds=int(raw))
    if isinstance(tp, type) and issubclass(tp, Enum):
        return tp(raw)
    if tp in (str, int):
        if not isinstance(raw, tp) or isinstance(raw, bool):
            raise ValueError(f"expected {tp.__name__}, got {raw!r}")
        return raw
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        hints = _hints(tp)
        return tp(
            **{
                f.name: _decode(hints[f.name], raw[f.name])
                for f in dataclasses.fields(tp)
                if f.name in raw or not _has_default(f)  # a line from before the field
            }
        )
    raise TypeError(f"cannot decode {tp}")


def encode_state(state: CaseState) -> bytes:
    body = _encode(state)
    body["v"] = FORMAT_VERSION
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode() + b"\n"


def decode_state(line: bytes) -> CaseState:
    try:
        raw = json.loads(line)
        if not isinstance(raw, dict) or raw.get("v") != FORMAT_VERSION:
            raise BadLine(f"unknown spool format {raw.get('v') if isinstance(raw, dict) else raw}")
        state = _decode(CaseState, raw)
    except BadLine:
        raise
    except (ValueError, TypeError, KeyError) as exc:
        raise BadLine(f"undecodable spool line: {exc}") from exc
    assert isinstance(state, CaseState)
    return state


def encode_record(value: object) -> bytes:
    """One frozen dataclass (an event) as a JSON line, in the spool's encoding."""
    body = _encode(value)
    if not isinstance(body, dict):
        raise TypeError(f"not a dataclass: {type(value).__name__}")
    body["v"] = FORMAT_VERSION
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode() + b"\n"


def decode_record(line: bytes, cls: type[T]) -> T:
    """The inverse of :func:`encode_record` for a line known to hold a ``cls``."""
    try:
        raw = json.loads(line)
        if not isinstance(raw, dict) or raw.get("v") != FORMAT_VERSION:
            raise BadLine("unknown record format")
        value = _decode(cls, raw)
    except BadLine:
        raise
    except (ValueError, TypeError, KeyError) as exc:
        raise BadLine(f"undecodable {cls.__name__}: {type(exc).__name__}") from None
    if not isinstance(value, cls):
        raise BadLine(f"not a {cls.__name__}")
    return value
