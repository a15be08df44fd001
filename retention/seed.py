"""Seed audio rows and files fast (benchmark and tests): asyncpg COPY plus small files laid
out exactly as :class:`recording.store.AudioStore` lays them out.

Not used by the service; nothing here runs against a database it did not create.
"""

from __future__ import annotations

import hashlib
import os
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import asyncpg

from recording.store import AudioKind, location_for

PAYLOAD = b"RIFF" + b"\x00" * 60  # 64 bytes: the files' content does not matter here
_SHA = hashlib.sha256(PAYLOAD).hexdigest()


@dataclass(frozen=True, slots=True)
class Seeded:
    id: uuid.UUID
    location: str


async def seed_case(
    conn: asyncpg.Connection,
    tenant_id: uuid.UUID,
    started_at: datetime,
    *,
    number: str | None = None,
    email: str | None = None,
    name: str | None = None,
) -> uuid.UUID:
    case_id = uuid.uuid4()
    await conn.execute(
        "INSERT INTO cases (id, tenant_id, channel, caller_number, caller_email, caller_name, "
        "started_at, ended_at, outcome, total_time) "
        "VALUES ($1, $2, 'phone', $3, $4, $5, $6::timestamptz, "
        "$6::timestamptz + interval '2 minutes', "
        "'answered', interval '2 minutes')",
        case_id,
        tenant_id,
        number,
        email,
        name,
        started_at,
    )
    return case_id


def _write(root: Path, location: str) -> None:
    path = root / location
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as f:
        f.write(PAYLOAD)


async def seed_audio(
    conn: asyncpg.Connection,
    store_root: Path,
    tenant_id: uuid.UUID,
    case_id: uuid.UUID,
    completed_at: list[datetime],
    *,
    kind: AudioKind = AudioKind.RECORDING,
    held: bool = False,
    files: bool = True,
) -> list[Seeded]:
    """One row (and, with ``files``, one file) per completion time."""
    table = "recordings" if kind == AudioKind.RECORDING else "voice_messages"
    seeded: list[Seeded] = []
    records = []
    for at in completed_at:
        audio_id = uuid.uuid4()
        loc = location_for(kind, tenant_id, audio_id, at)
        seeded.append(Seeded(audio_id, loc))
        records.append(
            (
                audio_id,
                f"{kind.value[:-1]}-{audio_id.hex[:8]}",
                loc,
                at,
                timedelta(seconds=30),
                len(PAYLOAD),
                _SHA,
                tenant_id,
                case_id,
                held,
                "seeded hold" if held else None,
            )
        )
    await conn.copy_records_to_table(
        table,
        records=records,
        columns=[
            "id",
            "name",
            "location",
            "completed_at",
            "duration",
            "size_bytes",
            "sha256",
            "tenant_id",
            "case_id",
            "legal_hold",
            "legal_hold_reason",
        ],
    )
    if files:
        for s in seeded:
            _write(store_root, s.location)
    return seeded


def store_files(root: Path) -> set[str]:
    """Every file under ``root``, as paths relative to it."""
    out: set[str] = set()
    for dirpath, _dirs, names in os.walk(root):
        for name in names:
            out.add(os.path.relpath(os.path.join(dirpath, name), root))
    return out
