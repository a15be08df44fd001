from __future__ import annotations

import dataclasses
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from storage.auditchain import GENESIS, AuditFields, ChainRow, canonical, row_hash, verify


def chain(n: int) -> list[ChainRow]:
    rows, prev = [], GENESIS
    t0 = datetime(2026, 11, 22, tzinfo=UTC)
    for i in range(1, n + 1):
        f = AuditFields(
            id=i,
            at=t0 + timedelta(microseconds=i),
            actor="user:admin",
            action="user.create",
            tenant_id=uuid.UUID(int=i),
            details={"login": f"u{i}", "nested": {"b": [1, True, None]}},
        )
        h = row_hash(prev, f)
        rows.append(ChainRow(f, prev, h))
        prev = h
    return rows


def test_intact_chain() -> None:
    rows = chain(5)
    report = verify(rows)
    assert report.ok and report.rows == 5
    assert report.head_id == 5 and report.head_hash == rows[-1].row_hash


def test_empty_chain_is_intact() -> None:
    report = verify([])
    assert report.ok and report.rows == 0 and report.head_id is None


def test_edited_row_is_found() -> None:
    rows = chain(5)
    edited = dataclasses.replace(rows[2].fields, details={"login": "someone-else"})
    rows[2] = dataclasses.replace(rows[2], fields=edited)
    report = verify(rows)
    assert not report.ok and report.broken_id == 3
    assert "edited" in (report.reason or "")


def test_deleted_row_is_found_at_the_next_row() -> None:
    rows = chain(5)
    del rows[1]
    report = verify(rows)
    assert not report.ok and report.broken_id == 3
    assert "missing" in (report.reason or "")


def test_deleted_and_renumbered_row_is_found_by_the_hash_link() -> None:
    rows = chain(4)
    # Remove row 2 and renumber row 3 as 2 (rehashing it with the right prev): row 3's
    # successor still points at the old hash.
    f3 = dataclasses.replace(rows[2].fields, id=2)
    h3 = row_hash(rows[0].row_hash, f3)
    forged = [rows[0], ChainRow(f3, rows[0].row_hash, h3)]
    f4 = dataclasses.replace(rows[3].fields, id=3)
    forged.append(ChainRow(f4, rows[3].prev_hash, rows[3].row_hash))
    report = verify(forged)
    assert report.broken_id == 3


def test_canonical_form_is_stable_and_floats_are_refused() -> None:
    f = chain(1)[0].fields
    assert canonical(f) == canonical(dataclasses.replace(f, details=dict(f.details)))
    assert b" " not in canonical(f).replace(b"user:admin", b"")
    with pytest.raises(ValueError, match="floats"):
        canonical(dataclasses.replace(f, details={"x": 1.5}))
