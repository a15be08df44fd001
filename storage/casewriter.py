"""Writes case snapshots to Postgres for the recorder: idempotent upserts, one transaction.

A snapshot is the whole case as known so far (:class:`storage.timing.CaseState`), so writing
the same or an older snapshot again changes nothing that matters:

- ``cases``: upsert by id; each column keeps its stored value when the snapshot has none
  (``COALESCE(EXCLUDED.x, t.x)``); the caller's personal fields are never written back
  into a case whose personal data was erased;
- ``queue_entries``: upsert by (case id, seq), same merge rule;
- ``case_events`` (menu attempts, agent offers): inserted once by (case id, kind, seq);
- ``contact_requests``, ``recordings``, ``voice_messages``: inserted once (``ON CONFLICT DO
  NOTHING``): after that the console and the sweeper own those rows.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from typing import Any

import asyncpg
from sqlalchemy import Table
from sqlalchemy.dialects.postgresql.base import PGDialect
from sqlalchemy.ext.asyncio import AsyncEngine

from storage.errors import ConstraintViolation
from storage.events import CaseStepKind, RecordingCompleted, VoiceMessageSaved
from storage.models import Case, CaseStep, ContactRequest, QueueEntry, Recording, VoiceMessage
from storage.models.cases import PERSONAL_CASE_FIELDS
from storage.recorder import CaseRecorder, Rejected
from storage.repositories._uow import translate
from storage.settings import SpoolSettings
from storage.spool import Spool
from storage.timing import CaseState

log = logging.getLogger(__name__)

_cases: Table = Case.__table__  # type: ignore[assignment]
_queue: Table = QueueEntry.__table__  # type: ignore[assignment]
_requests: Table = ContactRequest.__table__  # type: ignore[assignment]
_recordings: Table = Recording.__table__  # type: ignore[assignment]
_voice: Table = VoiceMessage.__table__  # type: ignore[assignment]
_steps: Table = CaseStep.__table__  # type: ignore[assignment]

_PG = PGDialect()  # type: ignore[no-untyped-call]
_FIXED = ("tenant_id", "channel", "started_at")
CASE_COLUMNS = (
    "id", "tenant_id", "service_number", "channel", "caller_name", "caller_email",
    "caller_number", "started_at", "service_started_at", "agent_id", "ended_at", "outcome",
    "delay_before_service", "queue_wait", "service_time", "total_time", "controller_id",
)  # fmt: skip
QUEUE_COLUMNS = ("case_id", "seq", "queue", "entered_at", "left_at", "exit_reason", "wait")
REQUEST_COLUMNS = (
    "id", "tenant_id", "case_id", "channel", "queue", "requested_at", "callback_number",
    "name", "email", "message", "status", "attempts", "queue_entered_at",
)  # fmt: skip
AUDIO_COLUMNS = (
    "id", "tenant_id", "case_id", "name", "location", "completed_at", "duration",
    "size_bytes", "sha256", "status", "failure_reason",
)  # fmt: skip
RECORDING_COLUMNS = (*AUDIO_COLUMNS, "pauses", "started_at", "notice_played_at")
VOICE_COLUMNS = (*AUDIO_COLUMNS, "box")
STEP_COLUMNS = (
    "case_id", "kind", "seq", "at", "ended_at", "result", "menu", "choice", "option", "queue",
    "agent_login", "agent_id",
)  # fmt: skip


def _unnest_insert(table: Table, columns: Sequence[str], on_conflict: str) -> str:
    """One INSERT for a whole batch: each column is one array parameter (a single round
    trip and a single cached prepared statement, whatever the batch size)."""
    arrays = ", ".join(
        f"${i}::{table.c[c].type.compile(dialect=_PG)}[]" for i, c in enumerate(columns, 1)
    )
    return (
        f"INSERT INTO {table.name} AS t ({', '.join(columns)}) "
        f"SELECT * FROM unnest({arrays}) {on_conflict}"
    )


def _case_conflict() -> str:
    sets = [f"{c} = EXCLUDED.{c}" for c in _FIXED]
    for c in CASE_COLUMNS:
        if c in (*_FIXED, "id"):
            continue
        merged = f"COALESCE(EXCLUDED.{c}, t.{c})"
        if c in PERSONAL_CASE_FIELDS:
            merged = f"CASE WHEN t.personal_data_erased_at IS NULL THEN {merged} END"
        sets.append(f"{c} = {merged}")
    sets.append("updated_at = now()")
    return "ON CONFLICT (id) DO UPDATE SET " + ", ".join(sets)


_QUEUE_CONFLICT = (
    "ON CONFLICT (case_id, seq) DO UPDATE SET queue = EXCLUDED.queue, "
    "entered_at = EXCLUDED.entered_at, left_at = COALESCE(EXCLUDED.left_at, t.left_at), "
    "exit_reason = COALESCE(EXCLUDED.exit_reason, t.exit_reason), "
    "wait = COALESCE(EXCLUDED.wait, t.wait)"
)
_ONCE = "ON CONFLICT (id) DO NOTHING"

# (batch key, columns, SQL) in foreign-key order.
STATEMENTS: tuple[tuple[str, Sequence[str], str], ...] = (
    ("cases", CASE_COLUMNS, _unnest_insert(_cases, CASE_COLUMNS, _case_conflict())),
    ("queue", QUEUE_COLUMNS, _unnest_insert(_queue, QUEUE_COLUMNS, _QUEUE_CONFLICT)),
    ("requests", REQUEST_COLUMNS, _unnest_insert(_requests, REQUEST_COLUMNS, _ONCE)),
    ("recordings", RECORDING_COLUMNS, _unnest_insert(_recordings, RECORDING_COLUMNS, _ONCE)),
    ("voice", VOICE_COLUMNS, _unnest_insert(_voice, VOICE_COLUMNS, _ONCE)),
    (
        "steps",
        STEP_COLUMNS,
        _unnest_insert(_steps, STEP_COLUMNS, "ON CONFLICT (case_id, kind, seq) DO NOTHING"),
    ),
)


def case_row(s: CaseState, controller_id: str | None = None) -> dict[str, Any]:
    """The ``cases`` row of a snapshot; ``controller_id`` names the controller holding the
    case (the writer's: the newest writer holds it, so one that ends it as ``node_lost`` when
    that controller goes down finds it)."""
    return {
        "id": s.case_id,
        "tenant_id": s.tenant_id,
        "service_number": s.service_number,
        "channel": s.channel.value,
        "caller_name": s.caller_name,
        "caller_email": s.caller_email,
        "caller_number": s.caller_number,
        "started_at": s.started_at,
        "service_started_at": s.service_started_at,
        "agent_id": s.agent_id,
        "ended_at": s.ended_at,
        "outcome": None if s.outcome is None else s.outcome.value,
        "delay_before_service": s.delay_before_service,
        "queue_wait": s.queue_wait,
        "service_time": s.service_time,
        "total_time": s.total_time,
        "controller_id": controller_id,
    }


def rows(
    states: Sequence[CaseState], controller_id: str | None = None
) -> dict[str, list[dict[str, Any]]]:
    """Rows per table for a batch (the latest snapshot of each case wins)."""
    latest: dict[Any, CaseState] = {}
    for s in states:
        latest.pop(s.case_id, None)  # keep the order of the latest snapshots
        latest[s.case_id] = s
    out: dict[str, list[dict[str, Any]]] = {
        "cases": [],
        "queue": [],
        "requests": [],
        "recordings": [],
        "voice": [],
        "steps": [],
    }
    for s in latest.values():
        out["cases"].append(case_row(s, controller_id))
        out["queue"].extend(
            {
                "case_id": s.case_id,
                "seq": q.seq,
                "queue": q.queue,
                "entered_at": q.entered_at,
                "left_at": q.left_at,
                "exit_reason": None if q.exit is None else q.exit.value,
                "wait": q.wait,
            }
            for q in s.queue_stays
        )
        out["requests"].extend(
            {
                "id": r.request_id,
                "tenant_id": s.tenant_id,
                "case_id": s.case_id,
                "channel": s.channel.value,
                "queue": r.queue,
                "requested_at": r.at,
                "callback_number": r.callback_number,
                "name": r.name,
                "email": r.email,
                "message": r.message,
                "status": "open",
                "attempts": 0,
                "queue_entered_at": r.queue_entered_at,
            }
            for r in s.contact_requests
        )
        out["recordings"].extend(_recording_row(s, r) for r in s.recordings)
        out["voice"].extend(
            {**_audio_row(s, v.voice_message_id, v), "box": v.box} for v in s.voice_messages
        )
        out["steps"].extend(step_rows(s))
    return out


def step_rows(s: CaseState) -> list[dict[str, Any]]:
    """The case's ``case_events`` rows: its menu attempts and agent offers, numbered per
    kind in the order they happened."""
    blank = dict.fromkeys(STEP_COLUMNS)
    out = [
        {
            **blank,
            "case_id": s.case_id,
            "kind": CaseStepKind.MENU.value,
            "seq": i,
            "at": m.at,
            "result": m.result.value,
            "menu": m.menu,
            "choice": m.key,
            "option": m.option,
        }
        for i, m in enumerate(s.menu_choices)
    ]
    out.extend(
        {
            **blank,
            "case_id": s.case_id,
            "kind": CaseStepKind.OFFER.value,
            "seq": i,
            "at": o.at,
            "ended_at": max(o.ended_at, o.at),
            "result": o.result.value,
            "queue": o.queue,
            "agent_login": o.agent,
            "agent_id": o.agent_id,
        }
        for i, o in enumerate(s.offers)
    )
    return out


def _audio_row(
    s: CaseState, audio_id: Any, m: RecordingCompleted | VoiceMessageSaved
) -> dict[str, Any]:
    return {
        "id": audio_id,
        "tenant_id": s.tenant_id,
        "case_id": s.case_id,
        "name": m.name,
        "location": m.location,
        "completed_at": m.completed_at,
        "duration": m.duration,
        "size_bytes": m.size_bytes,
        "sha256": m.sha256,
        "status": m.status.value,
        "failure_reason": m.failure_reason,
    }


def _recording_row(s: CaseState, r: RecordingCompleted) -> dict[str, Any]:
    pauses = [{"start": p.start.total_seconds(), "end": p.end.total_seconds()} for p in r.pauses]
    return {
        **_audio_row(s, r.recording_id, r),
        "pauses": json.dumps(pauses),
        "started_at": r.started_at,
        "notice_played_at": r.notice_played_at,
    }


async def _write(conn: asyncpg.Connection, batch: dict[str, list[dict[str, Any]]]) -> None:
    for key, columns, sql in STATEMENTS:
        table_rows = batch[key]
        if table_rows:
            await conn.execute(sql, *([r[c] for r in table_rows] for c in columns))


def _refused(exc: BaseException) -> bool:
    """Bad data (constraint, bad value), as opposed to a database that cannot be used."""
    return isinstance(translate(exc), ConstraintViolation)


class PgCaseWriter:
    """:class:`storage.recorder.CaseWriter` on an AsyncEngine (one connection at a time).

    Borrows a pooled connection (pre-pinged, so a restarted server is noticed) and talks
    asyncpg directly: one ``unnest`` upsert per table and batch.
    """

    def __init__(self, engine: AsyncEngine, controller_id: str | None = None) -> None:
        self._engine = engine
        self._controller = controller_id

    async def write(self, states: Sequence[CaseState]) -> list[Rejected]:
        if not states:
            return []
        try:
            async with self._engine.connect() as sa_conn:
                raw = await sa_conn.get_raw_connection()
                conn = raw.driver_connection
                assert isinstance(conn, asyncpg.Connection)
                try:
                    async with conn.transaction():
                        await _write(conn, rows(states, self._controller))
                    return []
                except Exception as exc:
                    if not _refused(exc):
                        raise
                    log.warning(
                        "a batch of %d case records was refused (%s); writing them one by one",
                        len(states),
                        translate(exc),
                    )
                return await self._one_by_one(conn, states)
        except Exception as exc:
            raise translate(exc) from None  # a traceback must not print the row

    async def _one_by_one(
        self, conn: asyncpg.Connection, states: Sequence[CaseState]
    ) -> list[Rejected]:
        rejected: list[Rejected] = []
        async with conn.transaction():
            for s in states:
                try:
                    async with conn.transaction():  # a savepoint per case
                        await _write(conn, rows([s], self._controller))
                except Exception as exc:
                    if not _refused(exc):
                        raise
                    rejected.append(Rejected.because(s, translate(exc)))
        return rejected


def build_recorder(
    settings: SpoolSettings,
    engine: AsyncEngine,
    *,
    controller_id: str | None = None,
    **options: Any,
) -> CaseRecorder:
    """The production recorder: writes through ``engine`` (naming ``controller_id`` as the
    holder of the cases it writes), spools under the state dir."""
    spool = Spool(settings.state_dir / "spool" / "cases", settings.spool_max_bytes)
    return CaseRecorder(PgCaseWriter(engine, controller_id), spool, **options)
