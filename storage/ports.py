"""What services outside ``storage`` need from the append-only logs, as protocols.

The listening API, the subject exporter and others depend on these rather than on the
repositories, so unit tests can hand them fakes. The repositories
(:class:`storage.repositories.media.ListeningLog`, :class:`storage.repositories.audit.AuditLog`)
implement them.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import datetime
from typing import Any, Protocol

from storage.domain import Actor, ListeningEventView
from storage.events import ListenKind


class ListenRecorder(Protocol):
    """Writes a listening event (who reached which audio, how, by which link)."""

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
    ) -> ListeningEventView: ...


class AuditAppender(Protocol):
    """Appends an entry to the hash-chained audit log."""

    async def append(
        self,
        action: str,
        actor: Actor,
        *,
        tenant_id: uuid.UUID | None = None,
        target_type: str | None = None,
        target_id: object | None = None,
        details: Mapping[str, Any] | None = None,
    ) -> object: ...
