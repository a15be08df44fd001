"""Erasure of a data subject's personal data, and the ledger that proves it was done.

:meth:`ErasureRepository.erase_subject` blanks the subject's cases, their menu choices
(``case_events``, counted as ``menu_steps``) and contact requests,
removes their call-out group memberships and blanks their number in call-out attempts (the
ledger counts ``staff_members`` and ``callout_attempts``) in one transaction, writes a
ledger row (append-only, holds no personal data) and an audit row, and returns the
recordings and voice messages of those cases: the caller deletes their files and then marks
each deleted with reason ``erasure``. The transcripts of those cases (and their pending
transcription jobs) are deleted in the same transaction.

In the same transaction those audio rows get their deletion intent (``deleting_since``,
``deleting_reason = 'erasure'``): if the caller dies before the files are gone, the next
sweep finishes the job. Audio under legal hold is kept (and counted as held).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime

from sqlalchemy import ColumnElement, delete, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from storage.domain import Actor, AudioView, ErasureResult, ErasureView
from storage.models import (
    Case,
    ContactRequest,
    Erasure,
    Recording,
    Transcript,
    TranscriptionJob,
    VoiceMessage,
)
from storage.models.audit import ERASURE_BASES
from storage.repositories._uow import transaction
from storage.repositories.audit import AuditLog
from storage.repositories.cases import BLANK_REQUEST, blank_menu_steps
from storage.repositories.media import audio_view
from storage.repositories.staff import erase_staff_in


def _view(e: Erasure) -> ErasureView:
    return ErasureView(
        id=e.id,
        tenant_id=e.tenant_id,
        performed_at=e.performed_at,
        performed_by=e.performed_by,
        actor=e.actor,
        basis=e.basis,
        request_ref=e.request_ref,
        counts={str(k): int(v) for k, v in e.counts.items()},
        case_ids=tuple(e.case_ids),
    )


class ErasureRepository:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def erase_subject(
        self,
        tenant_id: uuid.UUID,
        actor: Actor,
        now: datetime,
        *,
        number: str | None = None,
        email: str | None = None,
        basis: str = "data_subject_request",
        request_ref: str | None = None,
        numbers: Sequence[str] = (),
        subject_digests: Sequence[str] = (),
        subject_keys: Sequence[str] = (),
    ) -> ErasureResult:
        """``numbers``: more spellings of the same number (:func:`storage.contacts.number_forms`);
        ``subject_digests`` (per-entry salt) and ``subject_keys`` (per-tenant salt, indexed:
        :mod:`storage.ledger_keys`): kept in the ledger entry to find it again later."""
        all_numbers = [n for n in (number, *numbers) if n is not None]
        if all_numbers:
            number = all_numbers[0]
        if number is None and email is None:
            raise ValueError("give a number or an e-mail address")
        if basis not in ERASURE_BASES:
            raise ValueError(f"basis must be one of {ERASURE_BASES}")
        matches: list[ColumnElement[bool]] = []
        if all_numbers:
            matches.append(Case.caller_number.in_(all_numbers))
        if email is not None:
            matches.append(func.lower(Case.caller_email) == email.lower())
        req_matches: list[ColumnElement[bool]] = []
        if all_numbers:
            req_matches.append(ContactRequest.callback_number.in_(all_numbers))
        if email is not None:
            req_matches.append(func.lower(ContactRequest.email) == email.lower())

        async with transaction(self._sessions) as s:
            case_ids = [
                r[0]
                for r in (
                    await s.execute(
                        update(Case)
                        .where(Case.tenant_id == tenant_id, or_(*matches))
                        .values(
                            caller_name=None,
                            caller_email=None,
                            caller_number=None,
                            personal_data_erased_at=now,
                        )
                        .returning(Case.id)
                    )
                ).all()
            ]
            request_ids = [
                r[0]
                for r in (
                    await s.execute(
                        update(ContactRequest)
                        .where(
                            ContactRequest.tenant_id == tenant_id,
                            or_(ContactRequest.case_id.in_(case_ids), *req_matches),
                        )
                        .values(**BLANK_REQUEST, personal_data_erased_at=now)
                        .returning(ContactRequest.id)
                    )
                ).all()
            ]
            intent = datetime.now(UTC)
            recordings: list[AudioView] = []
            voice: list[AudioView] = []
            held = {"recordings_held": 0, "voice_messages_held": 0}
            kinds: tuple[tuple[str, type[Recording] | type[VoiceMessage], list[AudioView]], ...] = (
                ("recording", Recording, recordings),
                ("voice_message", VoiceMessage, voice),
            )
            for kind, model, out in kinds:
                rows: list[Recording | VoiceMessage] = list(
                    await s.scalars(
                        select(model)
                        .where(model.case_id.in_(case_ids), model.deleted_at.is_(None))
                        .with_for_update()
                    )
                )
                for row in rows:
                    if row.legal_hold:
                        held[f"{kind}s_held"] += 1
                        continue
                    if row.deleting_since is None:
                        row.deleting_since = intent
                        row.deleting_reason = "erasure"
                    out.append(audio_view(kind, row))
            await s.flush()
            # Call-out group memberships go, and the number in call-out attempts (issue 16).
            staff, attempts = await erase_staff_in(s, tenant_id, all_numbers)
            # Transcripts of those cases go whole (their text is about the person, redacted
            # or not), and so do jobs not yet run.
            gone = await s.execute(delete(Transcript).where(Transcript.case_id.in_(case_ids)))
            await s.execute(delete(TranscriptionJob).where(TranscriptionJob.case_id.in_(case_ids)))
            # What the person chose in menus goes with their other data (the times stay).
            menu_steps = await blank_menu_steps(s, case_ids)
            counts = {
                "cases": len(case_ids),
                "menu_steps": menu_steps,
                "contact_requests": len(request_ids),
                "recordings": len(recordings),
                "voice_messages": len(voice),
                "transcripts": int(getattr(gone, "rowcount", 0) or 0),
                **held,
                "staff_members": staff,
                "callout_attempts": attempts,
            }
            entry = Erasure(
                id=uuid.uuid4(),
                tenant_id=tenant_id,
                performed_at=now,
                performed_by=actor.user_id,
                actor=actor.label,
                basis=basis,
                request_ref=request_ref,
                counts=counts,
                case_ids=case_ids,
                subject_digests=list(subject_digests),
                subject_keys=list(subject_keys) or None,
            )
            s.add(entry)
            await s.flush()
            await AuditLog.append_in(
                s,
                "erasure",
                actor,
                tenant_id=tenant_id,
                target_type="erasure",
                target_id=entry.id,
                details={"counts": counts, "basis": basis},
            )
            return ErasureResult(_view(entry), tuple(recordings), tuple(voice))

    async def ledger(self, tenant_id: uuid.UUID, *, limit: int = 100) -> list[ErasureView]:
        stmt = (
            select(Erasure)
            .where(Erasure.tenant_id == tenant_id)
            .order_by(Erasure.performed_at.desc())
            .limit(limit)
        )
        async with transaction(self._sessions) as s:
            return [_view(e) for e in await s.scalars(stmt)]
