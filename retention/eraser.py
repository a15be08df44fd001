"""Erasure requests: delete one person's audio, blank their personal data, keep a ledger.

:meth:`Eraser.erase`:

1. :meth:`storage.repositories.erasures.ErasureRepository.erase_subject` — one transaction:
   blank the person's cases and contact requests, set the deletion intent on their audio
   (not on audio under legal hold), write the ledger entry (who, when, counts, salted
   digests and indexed lookup keys of the identifiers so a later access request finds it;
   no personal data) and the audit entry;
2. unlink the audio files;
3. mark the audio rows deleted with reason ``erasure`` (audited).

A crash after 1 leaves intents that the next sweep finishes.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from recording.store import AudioStore, BadLocation
from storage.contacts import Subject, subject_digests
from storage.domain import Actor, AudioView, ErasureView
from storage.events import DeletionReason
from storage.ledger_keys import subject_keys
from storage.repositories.erasures import ErasureRepository
from storage.repositories.sweep import AudioTable, Claimed, SweepRepository

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class EraseResult:
    ledger: ErasureView
    files_deleted: int
    files_missing: int


class Eraser:
    def __init__(
        self,
        erasures: ErasureRepository,
        sweep: SweepRepository,
        store: AudioStore,
        clock: Callable[[], datetime],
    ) -> None:
        self._erasures = erasures
        self._sweep = sweep
        self._store = store
        self._clock = clock

    async def erase(
        self,
        tenant_id: uuid.UUID,
        subject: Subject,
        actor: Actor,
        *,
        request_ref: str | None = None,
    ) -> EraseResult:
        now = self._clock()
        forms = subject.number_forms()
        # Slow one-way digests (PBKDF2): computed in a worker thread, not on the event loop.
        digests = await asyncio.to_thread(subject_digests, subject)
        keys = await asyncio.to_thread(subject_keys, tenant_id, subject)
        result = await self._erasures.erase_subject(
            tenant_id,
            actor,
            now,
            number=forms[0] if forms else None,
            numbers=forms[1:],
            email=subject.email,
            request_ref=request_ref,
            subject_digests=digests,
            subject_keys=keys,
        )
        deleted = missing = 0
        table: AudioTable
        for table, audio in (
            ("recordings", result.recordings),
            ("voice_messages", result.voice_messages),
        ):
            if not audio:
                continue
            gone = await asyncio.to_thread(self._unlink, audio)
            deleted += gone
            missing += len(audio) - gone
            claimed = [
                Claimed(a.id, a.tenant_id, a.location, DeletionReason.ERASURE) for a in audio
            ]
            await self._sweep.finish(table, claimed, now, actor)
        log.info(
            "[erasure %s] %s: %s, %d files deleted",
            result.ledger.id,
            subject.describe(),
            result.ledger.counts,
            deleted,
        )
        return EraseResult(result.ledger, deleted, missing)

    def _unlink(self, audio: tuple[AudioView, ...]) -> int:
        gone = 0
        for a in audio:
            try:
                gone += self._store.delete(a.location)
            except BadLocation:
                log.error("[%s] %s location not in the store layout", a.case_id, a.id)
        return gone
