"""Recordings and voice messages (metadata; the audio is a file), and the listening log.

Rows are written by the recorder (``RecordingCompleted`` / ``VoiceMessageSaved``); the
sweeper asks :meth:`AudioRepository.due_for_sweep`, deletes the file, then calls
:meth:`AudioRepository.mark_deleted`. Rows are kept (tombstoned), never deleted.

Every access to audio is logged with :meth:`ListeningLog.record`; that log is append-only.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Generic, TypeVar

from sqlalchemy import Interval, cast, literal, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from storage.domain import AudioView, ListeningEventView
from storage.errors import Conflict, NotFound
from storage.events import DeletionReason, ListenKind, RecordingCompleted, VoiceMessageSaved
from storage.models import Case, ListeningEvent, Recording, Tenant, VoiceMessage
from storage.repositories._uow import timestamptz, transaction


def audio_view(kind: str, a: Recording | VoiceMessage) -> AudioView:
    return AudioView(
        kind=kind,
        id=a.id,
        tenant_id=a.tenant_id,
        case_id=a.case_id,
        name=a.name,
        location=a.location,
        completed_at=a.completed_at,
        duration=a.duration,
        size_bytes=a.size_bytes,
        sha256=a.sha256,
        deleted_at=a.deleted_at,
        deletion_reason=None if a.deletion_reason is None else DeletionReason(a.deletion_reason),
        status=a.status,
        failure_reason=a.failure_reason,
        legal_hold=a.legal_hold,
        being_deleted=a.deleting_since is not None,
    )


A = TypeVar("A", Recording, VoiceMessage)


class AudioRepository(Generic[A]):
    """Shared by :class:`RecordingRepository` and :class:`VoiceMessageRepository`."""

    model: type[A]
    kind: str
    retention_column: str

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def get(self, audio_id: uuid.UUID) -> AudioView:
        async with transaction(self._sessions) as s:
            row = await s.get(self.model, audio_id)
            if row is None:
                raise NotFound(self.kind, audio_id)
            return audio_view(self.kind, row)

    async def for_case(self, case_id: uuid.UUID) -> list[AudioView]:
        m = self.model
        async with transaction(self._sessions) as s:
            rows = await s.scalars(select(m).where(m.case_id == case_id).order_by(m.completed_at))
            return [audio_view(self.kind, r) for r in rows]

    async def due_for_sweep(self, now: datetime, *, limit: int = 500) -> list[AudioView]:
        """Audio older than its tenant's retention and not deleted yet, oldest first."""
        m = self.model
        retention = cast(getattr(Tenant, self.retention_column), Interval)
        stmt = (
            select(m)
            .join(Tenant, Tenant.id == m.tenant_id)
            .where(m.deleted_at.is_(None), m.completed_at < timestamptz(now) - retention)
            .order_by(m.completed_at)
            .limit(limit)
        )
        async with transaction(self._sessions) as s:
            return [audio_view(self.kind, r) for r in await s.scalars(stmt)]

    async def mark_deleted(
        self, audio_id: uuid.UUID, reason: DeletionReason, *, at: datetime | None = None
    ) -> AudioView:
        async with transaction(self._sessions) as s:
            row = await s.get(self.model, audio_id, with_for_update=True)
            if row is None:
                raise NotFound(self.kind, audio_id)
            if row.deleted_at is not None:
                raise Conflict(f"{self.kind} {audio_id} was already deleted")
            row.deleted_at = at or datetime.now(UTC)
            row.deletion_reason = reason.value
            await s.flush()
            return audio_view(self.kind, row)


class RecordingRepository(AudioRepository[Recording]):
    model = Recording
    kind = "recording"
    retention_column = "recording_retention"


class VoiceMessageRepository(AudioRepository[VoiceMessage]):
    model = VoiceMessage
    kind = "voice_message"
    retention_column = "voicemail_retention"


class AudioRows:
    """Rows for audio of a case the case recorder does not hold: a callback conversation
    (the case was opened by the caller's earlier call, maybe on another controller) or a
    recording recovered after a controller crash. The case must exist; idempotent."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def exists(self, recording: bool, audio_id: uuid.UUID) -> bool:
        """Whether the row of a recording (``recording``) or voice message is there."""
        table = Recording if recording else VoiceMessage
        async with self._sessions() as s:
            return await s.scalar(select(table.id).where(table.id == audio_id)) is not None

    async def attach(self, event: RecordingCompleted | VoiceMessageSaved) -> bool:
        """Insert the row; False when it was already there."""
        async with transaction(self._sessions) as s:
            tenant_id = await s.scalar(select(Case.tenant_id).where(Case.id == event.case_id))
            if tenant_id is None:
                raise NotFound("case", event.case_id)
            common = {
                "tenant_id": tenant_id,
                "case_id": event.case_id,
                "name": event.name,
                "location": event.location,
                "completed_at": event.completed_at,
                "duration": event.duration,
                "size_bytes": event.size_bytes,
                "sha256": event.sha256,
                "status": event.status.value,
                "failure_reason": event.failure_reason,
            }
            if isinstance(event, RecordingCompleted):
                pauses = [
                    {"start": p.start.total_seconds(), "end": p.end.total_seconds()}
                    for p in event.pauses
                ]
                stmt = insert(Recording).values(
                    id=event.recording_id,
                    pauses=pauses,
                    started_at=event.started_at,
                    notice_played_at=event.notice_played_at,
                    **common,
                )
            else:
                stmt = insert(VoiceMessage).values(
                    id=event.voice_message_id, box=event.box, **common
                )
            added = stmt.on_conflict_do_nothing(index_elements=["id"]).returning(literal(1))
            return (await s.scalar(added)) is not None


def _listen_view(e: ListeningEvent) -> ListeningEventView:
    return ListeningEventView(
        id=e.id,
        at=e.at,
        event_type=ListenKind(e.event_type),
        tenant_id=e.tenant_id,
        case_id=e.case_id,
        link=e.link,
        recording_id=e.recording_id,
        voice_message_id=e.voice_message_id,
        user_id=e.user_id,
    )


class ListeningLog:
    """Append-only: there is no update or delete here, and the database refuses them."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def record(
        self,
        *,
        user_id: uuid.UUID,
        case_id: uuid.UUID,
        kind: ListenKind,
        link: str,
        recording_id: uuid.UUID | None = None,
        voice_message_id: uuid.UUID | None = None,
        at: datetime | None = None,
    ) -> ListeningEventView:
        async with transaction(self._sessions) as s:
            tenant_id = await s.scalar(select(Case.tenant_id).where(Case.id == case_id))
            if tenant_id is None:
                raise NotFound("case", case_id)
            event = ListeningEvent(
                id=uuid.uuid4(),
                at=at or datetime.now(UTC),
                event_type=kind.value,
                tenant_id=tenant_id,
                case_id=case_id,
                link=link,
                recording_id=recording_id,
                voice_message_id=voice_message_id,
                user_id=user_id,
            )
            s.add(event)
            await s.flush()
            return _listen_view(event)

    async def for_case(self, case_id: uuid.UUID) -> list[ListeningEventView]:
        stmt = select(ListeningEvent).where(ListeningEvent.case_id == case_id)
        async with transaction(self._sessions) as s:
            return [_listen_view(e) for e in await s.scalars(stmt.order_by(ListeningEvent.at))]

    async def for_user(self, user_id: uuid.UUID, *, limit: int = 100) -> list[ListeningEventView]:
        stmt = (
            select(ListeningEvent)
            .where(ListeningEvent.user_id == user_id)
            .order_by(ListeningEvent.at.desc())
            .limit(limit)
        )
        async with transaction(self._sessions) as s:
            return [_listen_view(e) for e in await s.scalars(stmt)]
