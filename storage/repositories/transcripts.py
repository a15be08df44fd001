"""Transcription jobs (claimed with SKIP LOCKED) and the redacted transcripts (issue 18).

Jobs are queued by a database trigger when a completed recording or voice message of a
tenant with transcripts on is stored (migration 0017). A worker claims the oldest queued
job (or one whose claim's lease ran out: a controller died mid-job), transcribes outside any
transaction, then stores the transcript and marks the job done in one transaction. With no
usable model the worker parks every queued job as ``waiting`` and wakes them when the
model is back.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, select, text, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from storage.errors import NotFound
from storage.models import Recording, Tenant, Transcript, TranscriptionJob, VoiceMessage
from storage.repositories._uow import timestamptz, transaction


@dataclass(frozen=True, slots=True)
class ClaimedJob:
    id: uuid.UUID
    tenant_id: uuid.UUID
    tenant_slug: str
    case_id: uuid.UUID
    kind: str  # recording | voice_message
    audio_id: uuid.UUID
    location: str
    audio_gone: bool  # deleted, or being deleted (retention, erasure)
    attempts: int


@dataclass(frozen=True, slots=True)
class NewTranscript:
    language: str
    language_detected: bool
    engine: str
    model_sha256: str
    confidence: float
    audio_seconds: float
    processing_seconds: float
    text: str  # already redacted
    redactions: dict[str, int]


@dataclass(frozen=True, slots=True)
class TranscriptView:
    id: uuid.UUID
    tenant_id: uuid.UUID
    case_id: uuid.UUID
    recording_id: uuid.UUID | None
    voice_message_id: uuid.UUID | None
    created_at: datetime
    language: str
    language_detected: bool
    engine: str
    model_sha256: str
    confidence: float
    audio_seconds: float
    text: str
    redactions: dict[str, int]


def transcript_view(t: Transcript) -> TranscriptView:
    return TranscriptView(
        id=t.id,
        tenant_id=t.tenant_id,
        case_id=t.case_id,
        recording_id=t.recording_id,
        voice_message_id=t.voice_message_id,
        created_at=t.created_at,
        language=t.language,
        language_detected=t.language_detected,
        engine=t.engine,
        model_sha256=t.model_sha256,
        confidence=t.confidence,
        audio_seconds=t.audio_seconds,
        text=t.text,
        redactions={str(k): int(v) for k, v in t.redactions.items()},
    )


_CLAIM = text(
    """
    UPDATE transcription_jobs j
       SET status = 'running', claimed_at = :now, claimed_by = :worker,
           attempts = j.attempts + 1
     WHERE j.id = (
        SELECT id FROM transcription_jobs
         WHERE status = 'queued' OR (status = 'running' AND claimed_at < :stale)
         ORDER BY created_at
         LIMIT 1
         FOR UPDATE SKIP LOCKED)
    RETURNING j.id, j.tenant_id, j.case_id, j.recording_id, j.voice_message_id, j.attempts
    """
)


class TranscriptionJobs:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def claim(self, worker: str, now: datetime, lease: timedelta) -> ClaimedJob | None:
        async with transaction(self._sessions) as s:
            row = (
                await s.execute(_CLAIM, {"now": now, "worker": worker, "stale": now - lease})
            ).one_or_none()
            if row is None:
                return None
            model: type[Recording] | type[VoiceMessage]
            if row.recording_id is not None:
                kind, audio_id, model = "recording", row.recording_id, Recording
            else:
                kind, audio_id, model = "voice_message", row.voice_message_id, VoiceMessage
            audio: Recording | VoiceMessage | None = await s.get(model, audio_id)
            slug = await s.scalar(select(Tenant.slug).where(Tenant.id == row.tenant_id))
            assert audio is not None and slug is not None  # foreign keys
            return ClaimedJob(
                id=row.id,
                tenant_id=row.tenant_id,
                tenant_slug=slug,
                case_id=row.case_id,
                kind=kind,
                audio_id=audio_id,
                location=audio.location,
                audio_gone=audio.deleted_at is not None or audio.deleting_since is not None,
                attempts=row.attempts,
            )

    async def finish(self, job: ClaimedJob, new: NewTranscript, now: datetime) -> uuid.UUID:
        """Store the transcript and mark the job done (one transaction; idempotent)."""
        tid = uuid.uuid4()
        ref = {"recording_id" if job.kind == "recording" else "voice_message_id": job.audio_id}
        async with transaction(self._sessions) as s:
            stmt = (
                insert(Transcript)
                .values(
                    id=tid,
                    tenant_id=job.tenant_id,
                    case_id=job.case_id,
                    created_at=now,
                    language=new.language,
                    language_detected=new.language_detected,
                    engine=new.engine,
                    model_sha256=new.model_sha256,
                    confidence=max(0.0, min(1.0, new.confidence)),
                    audio_seconds=new.audio_seconds,
                    processing_seconds=new.processing_seconds,
                    text=new.text,
                    redactions=new.redactions,
                    **ref,
                )
                .on_conflict_do_nothing()
                .returning(Transcript.id)
            )
            stored = await s.scalar(stmt)
            await self._set(s, job.id, "done", now, None)
            return stored if stored is not None else tid

    async def retry_or_fail(
        self, job: ClaimedJob, error: str, now: datetime, *, max_attempts: int
    ) -> str:
        state = "queued" if job.attempts < max_attempts else "failed"
        async with transaction(self._sessions) as s:
            await self._set(s, job.id, state, now if state == "failed" else None, error[:2000])
        return state

    async def cancel(self, job: ClaimedJob, reason: str, now: datetime) -> None:
        async with transaction(self._sessions) as s:
            await self._set(s, job.id, "cancelled", now, reason)

    async def park(self, job: ClaimedJob | None, reason: str) -> int:
        """Every queued job (and ``job``, claimed just now) waits for the model."""
        async with transaction(self._sessions) as s:
            waits = TranscriptionJob.status == "queued"
            if job is not None:
                waits = waits | (TranscriptionJob.id == job.id)
            result = await s.execute(
                update(TranscriptionJob)
                .where(waits)
                .values(status="waiting", error=reason[:2000], claimed_at=None, claimed_by=None)
            )
            return int(getattr(result, "rowcount", 0) or 0)

    async def wake(self) -> int:
        """Waiting jobs back to the queue (the model is there again)."""
        async with transaction(self._sessions) as s:
            result = await s.execute(
                update(TranscriptionJob)
                .where(TranscriptionJob.status.in_(("waiting",)))
                .values(status="queued", error=None)
            )
            return int(getattr(result, "rowcount", 0) or 0)

    async def pending(self, now: datetime, lease: timedelta) -> int:
        """Jobs queued, waiting, or running under a claim whose lease ran out."""
        stmt = select(func.count()).where(
            TranscriptionJob.status.in_(("queued", "waiting"))
            | ((TranscriptionJob.status == "running") & (TranscriptionJob.claimed_at < now - lease))
        )
        async with transaction(self._sessions) as s:
            return int(await s.scalar(stmt) or 0)

    async def waiting(self) -> int:
        async with transaction(self._sessions) as s:
            n = await s.scalar(select(func.count()).where(TranscriptionJob.status == "waiting"))
            return int(n or 0)

    async def counts(self, tenant_id: uuid.UUID | None = None) -> dict[str, int]:
        stmt = select(TranscriptionJob.status, func.count()).group_by(TranscriptionJob.status)
        if tenant_id is not None:
            stmt = stmt.where(TranscriptionJob.tenant_id == tenant_id)
        async with transaction(self._sessions) as s:
            return {str(k): int(v) for k, v in (await s.execute(stmt)).all()}

    @staticmethod
    async def _set(
        s: AsyncSession,
        job_id: uuid.UUID,
        status: str,
        finished: datetime | None,
        error: str | None,
    ) -> None:
        await s.execute(
            update(TranscriptionJob)
            .where(TranscriptionJob.id == job_id)
            .values(status=status, finished_at=finished, error=error)
        )


class TranscriptRepository:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def get(self, transcript_id: uuid.UUID) -> TranscriptView:
        async with transaction(self._sessions) as s:
            t = await s.get(Transcript, transcript_id)
            if t is None:
                raise NotFound("transcript", transcript_id)
            return transcript_view(t)

    async def for_audio(self, audio_id: uuid.UUID) -> TranscriptView | None:
        stmt = select(Transcript).where(
            (Transcript.recording_id == audio_id) | (Transcript.voice_message_id == audio_id)
        )
        async with transaction(self._sessions) as s:
            t = await s.scalar(stmt)
            return None if t is None else transcript_view(t)

    async def for_case(self, case_id: uuid.UUID) -> list[TranscriptView]:
        """A case's transcripts, oldest first (the console's case page lists them)."""
        stmt = (
            select(Transcript)
            .where(Transcript.case_id == case_id)
            .order_by(Transcript.created_at, Transcript.id)
        )
        async with transaction(self._sessions) as s:
            return [transcript_view(t) for t in await s.scalars(stmt)]

    async def page(
        self,
        tenant_id: uuid.UUID,
        *,
        since: datetime | None = None,
        before: tuple[datetime, uuid.UUID] | None = None,
        limit: int = 50,
    ) -> list[TranscriptView]:
        """Newest first; ``before``: the (created_at, id) of the last one already seen."""
        stmt = select(Transcript).where(Transcript.tenant_id == tenant_id)
        if since is not None:
            stmt = stmt.where(Transcript.created_at >= since)
        if before is not None:
            stmt = stmt.where(func.row(Transcript.created_at, Transcript.id) < func.row(*before))
        stmt = stmt.order_by(Transcript.created_at.desc(), Transcript.id.desc()).limit(limit)
        async with transaction(self._sessions) as s:
            return [transcript_view(t) for t in await s.scalars(stmt)]

    async def export(
        self, tenant_id: uuid.UUID, since: datetime | None, *, batch: int = 500
    ) -> AsyncIterator[dict[str, Any]]:
        """Redacted texts for bot training, oldest first, in batches: no case, caller, audio
        or transcript ids (nothing that leads back to a person)."""
        after: tuple[datetime, uuid.UUID] | None = None
        while True:
            stmt = select(Transcript).where(Transcript.tenant_id == tenant_id)
            if since is not None:
                stmt = stmt.where(Transcript.created_at >= since)
            if after is not None:
                stmt = stmt.where(func.row(Transcript.created_at, Transcript.id) > func.row(*after))
            stmt = stmt.order_by(Transcript.created_at, Transcript.id).limit(batch)
            async with transaction(self._sessions) as s:
                rows = list(await s.scalars(stmt))
            for t in rows:
                yield {
                    "created_at": t.created_at.isoformat(),
                    "source": "recording" if t.recording_id is not None else "voice_message",
                    "language": t.language,
                    "language_detected": t.language_detected,
                    "confidence": t.confidence,
                    "audio_seconds": t.audio_seconds,
                    "engine": t.engine,
                    "model_sha256": t.model_sha256,
                    "redactions": t.redactions,
                    "text": t.text,
                }
            if len(rows) < batch:
                return
            after = (rows[-1].created_at, rows[-1].id)

    async def delete_expired(self, now: datetime, *, limit: int = 500) -> int:
        """Delete up to ``limit`` transcripts older than their tenant's retention."""
        expired = (
            select(Transcript.id)
            .join(Tenant, Tenant.id == Transcript.tenant_id)
            .where(Transcript.created_at < timestamptz(now) - Tenant.transcript_retention)
            .limit(limit)
            .scalar_subquery()
        )
        async with transaction(self._sessions) as s:
            result = await s.execute(delete(Transcript).where(Transcript.id.in_(expired)))
            return int(getattr(result, "rowcount", 0) or 0)
