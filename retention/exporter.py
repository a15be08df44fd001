"""Access requests: write everything stored about one person as a bundle.

The bundle is a new directory ``<out>/subject-<tenant slug>-<UTC time>-<random>/`` with
``subject.json`` (every row about the person, per table, plus a manifest of the audio) and
``audio/<kind>-<id>.wav`` for each recording and voice message still stored. Writing the
bundle is an access to the audio: each file copied is a listening event of type ``export``
by the requesting user, and the export as a whole is an audit entry (counts, bundle name; no
personal data in the audit log).
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from recording.store import AudioStore
from retention.errors import BundleExists
from storage.contacts import Subject
from storage.domain import Actor, TenantInfo, UserInfo
from storage.events import ListenKind
from storage.ports import AuditAppender, ListenRecorder
from storage.repositories.subjects import AudioRef, SubjectData, SubjectRepository

log = logging.getLogger(__name__)

FORMAT = "linja-subject-export/1"


@dataclass(frozen=True, slots=True)
class ExportResult:
    bundle: Path
    counts: dict[str, int]
    audio_files: int
    audio_missing: int  # live rows whose file was not in the store


class Exporter:
    def __init__(
        self,
        subjects: SubjectRepository,
        listening: ListenRecorder,
        audit: AuditAppender,
        store: AudioStore,
        clock: Callable[[], datetime],
    ) -> None:
        self._subjects = subjects
        self._listening = listening
        self._audit = audit
        self._store = store
        self._clock = clock

    async def export(
        self, tenant: TenantInfo, subject: Subject, out_dir: Path, by: UserInfo
    ) -> ExportResult:
        now = self._clock()
        data = await self._subjects.collect(tenant.id, subject)
        name = f"subject-{tenant.slug}-{now:%Y%m%dT%H%M%SZ}-{secrets.token_hex(3)}"
        bundle = out_dir / name
        try:
            (bundle / "audio").mkdir(parents=True, exist_ok=False, mode=0o700)
        except FileExistsError:
            raise BundleExists(f"{bundle} already exists") from None
        os.chmod(bundle, 0o700)
        copied: list[dict[str, Any]] = []
        missing = 0
        for ref in data.audio:
            if not ref.live:
                continue
            rel = f"audio/{ref.kind}-{ref.id}.wav"
            ok = await asyncio.to_thread(self._copy, ref, bundle / rel)
            if not ok:
                missing += 1
                log.error("[%s] %s %s: file missing from the store", ref.case_id, ref.kind, ref.id)
                continue
            await self._listening.record(
                user_id=by.id,
                case_id=ref.case_id,
                kind=ListenKind.EXPORT,
                link=f"export:{name}/{rel}",
                recording_id=ref.id if ref.kind == "recording" else None,
                voice_message_id=ref.id if ref.kind == "voice_message" else None,
                at=now,
            )
            copied.append({"kind": ref.kind, "id": str(ref.id), "file": rel})
        document = {
            "format": FORMAT,
            "exported_at": now.isoformat(),
            "exported_by": by.login,
            "tenant": {"id": str(tenant.id), "slug": tenant.slug, "name": tenant.name},
            "subject": {"phone_number": subject.number, "email": subject.email},
            "counts": data.counts(),
            **data.sections(),
            "audio_files": copied,
        }
        _write_json(bundle / "subject.json", document)
        await self._audit.append(
            "subject.export",
            Actor.user(by),
            tenant_id=tenant.id,
            target_type="export",
            target_id=name,
            details={"counts": data.counts(), "audio_files": len(copied), "missing": missing},
        )
        log.info("[export %s] %s: %s", name, subject.describe(), data.counts())
        return ExportResult(bundle, data.counts(), len(copied), missing)

    def _copy(self, ref: AudioRef, dest: Path) -> bool:
        try:
            self._store.copy_out(ref.location, dest)
        except FileNotFoundError:
            return False
        os.chmod(dest, 0o600)
        return True


def _write_json(path: Path, document: SubjectData | dict[str, Any]) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    with tmp.open("w", encoding="utf-8") as f:
        json.dump(document, f, ensure_ascii=False, indent=2, sort_keys=False)
        f.write("\n")
        f.flush()
        os.fsync(f.fileno())
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)
