"""Everything stored about one data subject, for an access (export) request.

A subject is matched by any stored spelling of their number (:func:`storage.contacts.
number_forms`) or by e-mail, case-insensitively: their cases (with queue stays), contact
requests (of those cases, or by callback number / e-mail), callback attempts of those
requests (when the table exists), recordings and voice messages of those cases (deleted ones
as metadata), listening events about those cases, restrictions, and the erasure ledger
entries that name them (so an export after erasure shows that it happened): found by the
person's lookup keys (:mod:`storage.ledger_keys`, computed once, off the event loop) through
an index, and older entries without keys by their per-entry digests, in a worker thread.

Rows come out as JSON-ready dictionaries (every column; times ISO 8601, durations in
seconds, ids as strings): the export is machine-readable and complete by construction.
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, func, inspect, or_, select, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from storage.contacts import Subject, digest_matches
from storage.ledger_keys import subject_keys
from storage.models import (
    Base,
    Case,
    CaseStep,
    ContactRequest,
    Erasure,
    ListeningEvent,
    QueueEntry,
    Recording,
    SubjectRestriction,
    Transcript,
    VoiceMessage,
)
from storage.repositories._uow import transaction
from storage.repositories.restrictions import case_matches
from storage.repositories.staff import staff_member_rows

Row = dict[str, Any]


def jsonable(value: object) -> object:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    return value


def _row(obj: Base) -> Row:
    return {a.key: jsonable(getattr(obj, a.key)) for a in inspect(obj).mapper.column_attrs}


@dataclass(frozen=True, slots=True)
class AudioRef:
    kind: str  # recording | voice_message
    id: uuid.UUID
    case_id: uuid.UUID
    location: str
    live: bool


@dataclass
class SubjectData:
    cases: list[Row] = field(default_factory=list)
    queue_entries: list[Row] = field(default_factory=list)
    case_events: list[Row] = field(default_factory=list)  # menu attempts, agent offers
    contact_requests: list[Row] = field(default_factory=list)
    callback_attempts: list[Row] = field(default_factory=list)
    recordings: list[Row] = field(default_factory=list)
    voice_messages: list[Row] = field(default_factory=list)
    listening_events: list[Row] = field(default_factory=list)
    restrictions: list[Row] = field(default_factory=list)
    erasures: list[Row] = field(default_factory=list)
    staff_memberships: list[Row] = field(default_factory=list)  # call-out groups (issue 16)
    callout_attempts: list[Row] = field(default_factory=list)
    transcripts: list[Row] = field(default_factory=list)  # redacted texts (issue 18)
    audio: list[AudioRef] = field(default_factory=list)

    SECTIONS = (
        "cases",
        "queue_entries",
        "case_events",
        "contact_requests",
        "callback_attempts",
        "recordings",
        "voice_messages",
        "listening_events",
        "restrictions",
        "erasures",
        "staff_memberships",
        "callout_attempts",
        "transcripts",
    )

    def counts(self) -> dict[str, int]:
        return {name: len(getattr(self, name)) for name in self.SECTIONS}

    def sections(self) -> dict[str, list[Row]]:
        return {name: getattr(self, name) for name in self.SECTIONS}


def _request_matches(subject: Subject, case_ids: list[uuid.UUID]) -> ColumnElement[bool]:
    clauses: list[ColumnElement[bool]] = [ContactRequest.case_id.in_(case_ids)]
    if subject.number is not None:
        clauses.append(ContactRequest.callback_number.in_(subject.number_forms()))
    if subject.email is not None:
        clauses.append(func.lower(ContactRequest.email) == subject.email)
    return or_(*clauses)


class SubjectRepository:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def collect(self, tenant_id: uuid.UUID, subject: Subject) -> SubjectData:
        data = SubjectData()
        async with transaction(self._sessions) as s:
            cases = list(
                await s.scalars(
                    select(Case)
                    .where(Case.tenant_id == tenant_id, case_matches(subject))
                    .order_by(Case.started_at)
                )
            )
            case_ids = [c.id for c in cases]
            data.cases = [_row(c) for c in cases]
            data.queue_entries = [
                _row(q)
                for q in await s.scalars(
                    select(QueueEntry)
                    .where(QueueEntry.case_id.in_(case_ids))
                    .order_by(QueueEntry.case_id, QueueEntry.seq)
                )
            ]
            data.case_events = [
                _row(e)
                for e in await s.scalars(
                    select(CaseStep)
                    .where(CaseStep.case_id.in_(case_ids))
                    .order_by(CaseStep.case_id, CaseStep.at, CaseStep.kind, CaseStep.seq)
                )
            ]
            requests = list(
                await s.scalars(
                    select(ContactRequest)
                    .where(
                        ContactRequest.tenant_id == tenant_id,
                        _request_matches(subject, case_ids),
                    )
                    .order_by(ContactRequest.requested_at)
                )
            )
            data.contact_requests = [_row(r) for r in requests]
            data.callback_attempts = await _callback_attempts(s, [r.id for r in requests])
            kinds: tuple[tuple[str, type[Recording] | type[VoiceMessage], list[Row]], ...] = (
                ("recording", Recording, data.recordings),
                ("voice_message", VoiceMessage, data.voice_messages),
            )
            for kind, model, out in kinds:
                audio: list[Recording | VoiceMessage] = list(
                    await s.scalars(
                        select(model)
                        .where(model.case_id.in_(case_ids))
                        .order_by(model.completed_at)
                    )
                )
                for a in audio:
                    out.append(_row(a))
                    data.audio.append(
                        AudioRef(kind, a.id, a.case_id, a.location, a.deleted_at is None)
                    )
            data.transcripts = [
                _row(t)
                for t in await s.scalars(
                    select(Transcript)
                    .where(Transcript.case_id.in_(case_ids))
                    .order_by(Transcript.created_at)
                )
            ]
            data.listening_events = [
                _row(e)
                for e in await s.scalars(
                    select(ListeningEvent)
                    .where(ListeningEvent.case_id.in_(case_ids))
                    .order_by(ListeningEvent.at)
                )
            ]
            restriction_matches: list[ColumnElement[bool]] = []
            if subject.number is not None:
                restriction_matches.append(SubjectRestriction.number == subject.number)
            if subject.email is not None:
                restriction_matches.append(SubjectRestriction.email == subject.email)
            data.restrictions = [
                _row(r)
                for r in await s.scalars(
                    select(SubjectRestriction)
                    .where(SubjectRestriction.tenant_id == tenant_id, or_(*restriction_matches))
                    .order_by(SubjectRestriction.restricted_at)
                )
            ]
        data.erasures = await self.erasures(tenant_id, subject)
        await self._staff(tenant_id, subject, data)
        return data

    async def _staff(self, tenant_id: uuid.UUID, subject: Subject, data: SubjectData) -> None:
        """The person as a member of the tenant's call-out groups, and the calls to them."""
        async with transaction(self._sessions) as s:
            members, attempts = await staff_member_rows(s, tenant_id, subject.number_forms())
        data.staff_memberships, data.callout_attempts = members, attempts

    async def erasures(self, tenant_id: uuid.UUID, subject: Subject) -> list[Row]:
        """The subject's erasure ledger entries, oldest first, without their digests."""
        # The person's lookup keys: slow (PBKDF2), once per request, off the event loop.
        keys = await asyncio.to_thread(subject_keys, tenant_id, subject)
        async with transaction(self._sessions) as s:
            ledger = await _ledger_entries(s, tenant_id, keys, subject)
        return [ledger_row(e) for e in ledger]


def ledger_row(e: Erasure) -> Row:
    row = _row(e)
    row.pop("subject_digests", None)
    row.pop("subject_keys", None)
    return row


async def _ledger_entries(
    s: AsyncSession, tenant_id: uuid.UUID, keys: list[str], subject: Subject
) -> list[Erasure]:
    """The subject's erasure ledger entries, oldest first: keyed entries by the GIN index on
    ``subject_keys``; entries from before the keys (``subject_keys`` NULL) by their per-entry
    digests, checked in a worker thread."""
    keyed = list(
        await s.scalars(
            select(Erasure).where(
                Erasure.tenant_id == tenant_id, Erasure.subject_keys.overlap(keys)
            )
        )
    )
    legacy = list(
        await s.scalars(
            select(Erasure).where(
                Erasure.tenant_id == tenant_id,
                Erasure.subject_keys.is_(None),
                func.cardinality(Erasure.subject_digests) > 0,
            )
        )
    )
    found = keyed
    if legacy:
        digests = [list(e.subject_digests) for e in legacy]
        hits = await asyncio.to_thread(_matching, digests, subject)
        found += [legacy[i] for i in hits]
    return sorted(found, key=lambda e: e.performed_at)


def _matching(digests: list[list[str]], subject: Subject) -> list[int]:
    """Indexes of the digest lists with a digest of one of the subject's identifiers."""
    return [i for i, ds in enumerate(digests) if any(digest_matches(d, subject) for d in ds)]


async def _callback_attempts(s: AsyncSession, request_ids: list[uuid.UUID]) -> list[Row]:
    """Dial attempts of the requests, if this database has the callback dialer's table."""
    exists = await s.scalar(text("SELECT to_regclass('callback_attempts') IS NOT NULL"))
    if not exists or not request_ids:
        return []
    result = await s.execute(
        text(
            "SELECT * FROM callback_attempts WHERE request_id = ANY(:ids) "
            "ORDER BY request_id, attempt_no"
        ),
        {"ids": request_ids},
    )
    return [{str(k): jsonable(v) for k, v in m.items()} for m in result.mappings()]
