"""Issue 17, item 9: "A data-subject export freezes every call" (PBKDF2 of every erasure
ledger entry's digests on the event loop). On the real Postgres, through the service the API
uses (:class:`retention.rights.SubjectRights`). The stall itself is timed by
``make bench-export``; here: the export is right and no digest is computed on the loop."""

from __future__ import annotations

import hashlib
import json
import threading
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from recording.store import AudioStore
from retention.bench_export import PERSON, LoopWatch, seed_ledger
from retention.rights import SubjectRights
from storage.contacts import Subject
from storage.db import session_factory
from storage.domain import Actor
from storage.events import Role
from storage.passwords import Hasher
from storage.repositories.users import UserRepository
from tests.integration.test_retention import new_tenant

pytestmark = pytest.mark.integration

LEGACY_OWN, LEGACY_OTHERS = 1, 4


class Pbkdf2Spy:
    """Counts PBKDF2 runs on and off the event loop's thread."""

    def __init__(self, loop_thread: threading.Thread) -> None:
        self._loop_thread = loop_thread
        self._real = hashlib.pbkdf2_hmac
        self.on_loop = 0
        self.off_loop = 0
        self._lock = threading.Lock()

    def __call__(self, *args: Any, **kwargs: Any) -> bytes:
        with self._lock:
            if threading.current_thread() is self._loop_thread:
                self.on_loop += 1
            else:
                self.off_loop += 1
        return self._real(*args, **kwargs)


async def test_data_subject_export_with_1000_ledger_entries_computes_digests_off_the_loop(
    engine: AsyncEngine,
    conn: asyncpg.Connection,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    tid = await new_tenant(conn, recordings="3 months")
    other_tid = await new_tenant(conn, recordings="3 months")
    seeded = await seed_ledger(
        conn, tid, entries=1000, own=3, legacy_own=LEGACY_OWN, legacy_others=LEGACY_OTHERS
    )
    # The same person erased in another tenant: not part of this tenant's export.
    await seed_ledger(conn, other_tid, entries=10, own=2)
    sessions = session_factory(engine)
    admin = await UserRepository(sessions, Hasher.fast_for_tests()).create(
        tenant_id=None, name="DPO", login="dpo-admin", password="salasana-123",
        role=Role.OPERATOR, actor=Actor.system("tests"),
    )  # fmt: skip
    rights = SubjectRights(sessions, AudioStore(tmp_path / "store"), lambda: datetime.now(UTC))
    tenant = await rights.tenant(await conn.fetchval("SELECT slug FROM tenants WHERE id = $1", tid))
    out = tmp_path / "out"
    out.mkdir()

    spy = Pbkdf2Spy(threading.current_thread())
    monkeypatch.setattr(hashlib, "pbkdf2_hmac", spy)
    watch = LoopWatch()
    async with watch.watching():
        result = await rights.export(tenant, PERSON, out, admin)
    monkeypatch.undo()
    print(f"longest event-loop stall during the export: {watch.worst * 1000:.1f} ms")

    # Every PBKDF2 off the loop, and not one per ledger entry: the person's keys (one per
    # identifier) plus the per-entry digests of the few entries that predate the keys.
    identifiers = 2
    assert spy.on_loop == 0, f"{spy.on_loop} PBKDF2 runs on the event loop"
    assert identifiers <= spy.off_loop <= identifiers * (1 + LEGACY_OWN + LEGACY_OTHERS)
    doc = json.loads((result.bundle / "subject.json").read_text())
    found = [uuid.UUID(e["id"]) for e in doc["erasures"]]
    assert len(found) == len(set(found)) == 4
    assert set(found) == seeded.own  # exactly this person's entries: keyed and legacy
    assert doc["counts"]["erasures"] == 4
    assert all("subject_digests" not in e and "subject_keys" not in e for e in doc["erasures"])
    performed = [e["performed_at"] for e in doc["erasures"]]
    assert performed == sorted(performed)


async def test_an_erasure_writes_lookup_keys_that_a_later_export_finds(
    engine: AsyncEngine, conn: asyncpg.Connection, tmp_path: Path
) -> None:
    tid = await new_tenant(conn, recordings="3 months")
    sessions = session_factory(engine)
    admin = await UserRepository(sessions, Hasher.fast_for_tests()).create(
        tenant_id=None, name="DPO", login="dpo-admin", password="salasana-123",
        role=Role.OPERATOR, actor=Actor.system("tests"),
    )  # fmt: skip
    rights = SubjectRights(sessions, AudioStore(tmp_path / "store"), lambda: datetime.now(UTC))
    tenant = await rights.tenant(await conn.fetchval("SELECT slug FROM tenants WHERE id = $1", tid))
    erased = await rights.erase(tenant, Subject.of(number="040 123 4567"), admin, request_ref="R1")
    row = await conn.fetchrow(
        "SELECT subject_keys, subject_digests FROM erasure_ledger WHERE id = $1",
        erased.ledger.id,
    )
    assert len(row["subject_keys"]) == 1 and len(row["subject_digests"]) == 1
    assert "401234567" not in str(dict(row))
    out = tmp_path / "out"
    out.mkdir()
    result = await rights.export(tenant, PERSON, out, admin)  # number + e-mail
    doc = json.loads((result.bundle / "subject.json").read_text())
    assert [e["request_ref"] for e in doc["erasures"]] == ["R1"]
    other = await rights.export(tenant, Subject.of(number="+358409999999"), out, admin)
    assert json.loads((other.bundle / "subject.json").read_text())["erasures"] == []
