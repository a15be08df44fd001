"""Erasure requests: delete one person's audio, blank their personal data, keep a ledger.

:meth:`Eraser.erase`:

1. :meth:`storage.repositories.erasures.ErasureRepository.erase_subject` — one transaction:
   blank the person's cases and contact requests, set the deletion intent on their audio
   (not on audio under legal hold), write the ledger entry (who, when, counts, salted
   digests and indexed lookup keys of the identifiers so a later access request finds it;
   no personal data) and the audit entry;
2. unlink the audio files;
3. mark the audio rows deleted with reason ``erasure`` (audited);
4. with :class:`retention.copies.Copies` given: remove the converted listening copies of that
   audio and the API export bundles about the person.

A crash after 1 leaves intents that the next sweep finishes (it removes the converted copies
of the audio it finishes; a bundle left behind expires with its TTL).
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from recording.store import AudioStore, BadLocation
from retention.copies import Copies
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
    copies_deleted: int = 0  # converted listening copies of the erased audio
    bundles_deleted: int = 0  # API export bundles about the person


class Eraser:
    def __init__(
        self,
        erasures: ErasureRepository,
        sweep: SweepRepository,
        store: AudioStore,
        clock: Callable[[], datetime],
        *,
        copies: Copies | None = None,
    ) -> None:
        self._erasures = erasures
        self._sweep = sweep
        self._store = store
        self._clock = clock
        self._copies = copies

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
        copies = bundles = 0
        if self._copies is not None:
            ids = [a.id for a in (*result.recordings, *result.voice_messages)]
            copies = await asyncio.to_thread(self._copies.drop_audio, ids)
            bundles = await asyncio.to_thread(self._copies.drop_subject, tenant_id, subject, ids)
        log.info(
            "[erasure %s] %s: %s, %d files, %d converted copies, %d export bundles deleted",
            result.ledger.id,
            subject.describe(),
            result.ledger.counts,
            deleted,
            copies,
            bundles,
        )
        return EraseResult(result.ledger, deleted, missing, copies, bundles)

    def _unlink(self, audio: tuple[AudioView, ...]) -> int:
        gone = 0
        for a in audio:
            try:
                gone += self._store.delete(a.location)
            except BadLocation:
                log.error("[%s] %s location not in the store layout", a.case_id, a.id)
        return gone
