"""The audit log's hash chain: canonical form, hashing and verification. No I/O.

Row *n* stores ``prev_hash`` (row *n-1*'s ``row_hash``; 64 zeros for row 1) and
``row_hash = sha256(prev_hash || canonical_json(fields))`` as lowercase hex, where the
canonical JSON is UTF-8, keys sorted, no whitespace, with::

    id            integer, gap-free from 1
    at            ISO 8601 UTC with microseconds, e.g. "2026-11-22T06:30:00.000001+00:00"
    tenant_id, actor_user_id     UUID string or null
    actor, action, target_type, target_id   string or null
    details       a JSON object of strings, integers, booleans, null, lists and objects
                  (no floats: their text form does not survive a jsonb round trip)

Editing a row changes its hash (detected at that row); deleting a row breaks the next row's
``prev_hash`` and the id sequence (detected at the next row). Deleting the newest rows is only
detectable against an earlier head: ``linja audit verify`` prints the head id and hash so an
operator can keep them elsewhere.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

GENESIS = "0" * 64


@dataclass(frozen=True, slots=True)
class AuditFields:
    id: int
    at: datetime
    actor: str
    action: str
    tenant_id: uuid.UUID | None = None
    actor_user_id: uuid.UUID | None = None
    target_type: str | None = None
    target_id: str | None = None
    details: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ChainRow:
    fields: AuditFields
    prev_hash: str
    row_hash: str


@dataclass(frozen=True, slots=True)
class ChainReport:
    ok: bool
    rows: int
    head_id: int | None
    head_hash: str | None
    broken_id: int | None = None
    reason: str | None = None


def check_details(details: Mapping[str, Any]) -> dict[str, Any]:
    """A JSON-safe copy of ``details``; raises ValueError for floats and non-string keys."""

    def walk(value: Any, path: str) -> Any:
        if value is None or isinstance(value, bool | int | str):
            return value
        if isinstance(value, float):
            raise ValueError(f"audit details {path}: floats are not allowed (use a string)")
        if isinstance(value, list | tuple):
            return [walk(v, f"{path}[{i}]") for i, v in enumerate(value)]
        if isinstance(value, Mapping):
            out: dict[str, Any] = {}
            for k, v in value.items():
                if not isinstance(k, str):
                    raise ValueError(f"audit details {path}: key {k!r} is not a string")
                out[k] = walk(v, f"{path}.{k}")
            return out
        if isinstance(value, uuid.UUID):
            return str(value)
        raise ValueError(f"audit details {path}: {type(value).__name__} is not JSON")

    checked = walk(details, "details")
    assert isinstance(checked, dict)
    return checked


def canonical(fields: AuditFields) -> bytes:
    at = fields.at.astimezone(UTC).isoformat(timespec="microseconds")
    body = {
        "id": fields.id,
        "at": at,
        "tenant_id": None if fields.tenant_id is None else str(fields.tenant_id),
        "actor_user_id": None if fields.actor_user_id is None else str(fields.actor_user_id),
        "actor": fields.actor,
        "action": fields.action,
        "target_type": fields.target_type,
        "target_id": fields.target_id,
        "details": check_details(fields.details),
    }
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def row_hash(prev_hash: str, fields: AuditFields) -> str:
    return hashlib.sha256(prev_hash.encode("ascii") + canonical(fields)).hexdigest()


class ChainVerifier:
    """Feed rows in id order; the first break is kept."""

    def __init__(self) -> None:
        self.rows = 0
        self.expected_prev = GENESIS
        self.last_id = 0
        self.broken_id: int | None = None
        self.reason: str | None = None

    @property
    def ok(self) -> bool:
        return self.broken_id is None

    def feed(self, rows: Iterable[ChainRow]) -> bool:
        """False once a break was found (later rows are not looked at)."""
        for row in rows:
            if self.broken_id is not None:
                return False
            self._check(row)
        return self.broken_id is None

    def _check(self, row: ChainRow) -> None:
        rid = row.fields.id
        if rid > self.last_id + 1:
            first, last = self.last_id + 1, rid - 1
            gone = str(first) if first == last else f"{first}..{last}"
            self._break(rid, f"row id(s) {gone} missing before it (rows deleted)")
        elif rid <= self.last_id:
            self._break(rid, f"id out of order after {self.last_id}")
        elif row.prev_hash != self.expected_prev:
            self._break(rid, "prev_hash does not match the previous row (row removed or edited)")
        else:
            try:
                computed = row_hash(row.prev_hash, row.fields)
            except ValueError as exc:
                self._break(rid, f"contents not canonical: {exc}")
                return
            if computed != row.row_hash:
                self._break(rid, "contents do not match row_hash (row edited)")
        self.rows += 1
        self.last_id = rid
        self.expected_prev = row.row_hash

    def _break(self, rid: int, reason: str) -> None:
        self.broken_id = rid
        self.reason = reason

    def report(self) -> ChainReport:
        head_id = self.last_id or None
        head_hash = self.expected_prev if self.rows else None
        return ChainReport(
            ok=self.ok,
            rows=self.rows,
            head_id=head_id,
            head_hash=head_hash,
            broken_id=self.broken_id,
            reason=self.reason,
        )


def verify(rows: Iterable[ChainRow]) -> ChainReport:
    verifier = ChainVerifier()
    verifier.feed(rows)
    return verifier.report()
