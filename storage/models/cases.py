"""Cases (one per contact), their queue stays and the callback / contact requests.

Case rows are never deleted: retention and erasure blank the personal fields and set
``personal_data_erased_at``; the timings stay for statistics.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from sqlalchemy import (
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    Interval,
    PrimaryKeyConstraint,
    String,
    Text,
    func,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from storage.events import (
    CallbackOutcome,
    CallbackResult,
    CaseStepKind,
    Channel,
    ContactStatus,
    MenuResult,
    OfferResult,
    Outcome,
    QueueExit,
    sql_in,
)
from storage.models.base import Base, created_at, uuid_pk

_NONNEG = ("delay_before_service", "queue_wait", "service_time", "total_time")
PERSONAL_CASE_FIELDS = ("caller_name", "caller_email", "caller_number")
PERSONAL_REQUEST_FIELDS = ("callback_number", "name", "email", "message")


class Case(Base):
    __tablename__ = "cases"
    __table_args__ = (
        CheckConstraint(sql_in("channel", Channel), name="channel_known"),
        CheckConstraint(f"outcome IS NULL OR {sql_in('outcome', Outcome)}", name="outcome_known"),
        CheckConstraint("(ended_at IS NULL) = (outcome IS NULL)", name="ended_has_outcome"),
        CheckConstraint("ended_at IS NULL OR ended_at >= started_at", name="end_after_start"),
        CheckConstraint(
            "service_started_at IS NULL OR service_started_at >= started_at",
            name="service_after_start",
        ),
        CheckConstraint(
            "service_started_at IS NULL OR ended_at IS NULL OR ended_at >= service_started_at",
            name="end_after_service",
        ),
        *(
            CheckConstraint(f"{c} IS NULL OR {c} >= interval '0'", name=f"{c}_nonnegative")
            for c in _NONNEG
        ),
        CheckConstraint(
            "personal_data_erased_at IS NULL OR "
            "(caller_name IS NULL AND caller_email IS NULL AND caller_number IS NULL)",
            name="erased_is_blank",
        ),
        # The case list's keyset order (newest first, ties by id; migration 0014), also the
        # time range scans of retention.
        Index(None, "tenant_id", "started_at", "id"),
        Index(None, "tenant_id", "caller_number"),
        Index(None, "agent_id", "started_at"),
        # The open cases of a controller (migration 0021): what is ended as node_lost when it
        # goes down.
        Index(None, "controller_id", postgresql_where=text("ended_at IS NULL")),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    tenant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tenants.id", ondelete="RESTRICT"))
    # The number (or address) the contact came in on, as dialled: kept even if the number
    # later moves to another tenant.
    service_number: Mapped[str | None] = mapped_column(String(64))
    channel: Mapped[str] = mapped_column(String(8))
    caller_name: Mapped[str | None] = mapped_column(String(200))
    caller_email: Mapped[str | None] = mapped_column(String(320))
    caller_number: Mapped[str | None] = mapped_column(String(64))
    started_at: Mapped[datetime]
    service_started_at: Mapped[datetime | None]
    agent_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="RESTRICT"))
    ended_at: Mapped[datetime | None]
    outcome: Mapped[str | None] = mapped_column(String(24))
    delay_before_service: Mapped[timedelta | None] = mapped_column(Interval)
    queue_wait: Mapped[timedelta | None] = mapped_column(Interval)
    service_time: Mapped[timedelta | None] = mapped_column(Interval)
    total_time: Mapped[timedelta | None] = mapped_column(Interval)
    restricted_at: Mapped[datetime | None]
    personal_data_erased_at: Mapped[datetime | None]
    updated_at: Mapped[datetime] = mapped_column(server_default=func.now())
    # The controller whose recorder wrote the case first (migration 0021; NULL before it, and
    # for cases no controller holds: written contacts, callback requests made by the API).
    controller_id: Mapped[str | None] = mapped_column(String(64))


class QueueEntry(Base):
    """One stay of a case in a queue (a case may be queued more than once)."""

    __tablename__ = "queue_entries"
    __table_args__ = (
        PrimaryKeyConstraint("case_id", "seq"),
        CheckConstraint("seq >= 0", name="seq_nonnegative"),
        CheckConstraint(
            f"exit_reason IS NULL OR {sql_in('exit_reason', QueueExit)}", name="exit_known"
        ),
        CheckConstraint("(left_at IS NULL) = (exit_reason IS NULL)", name="left_has_reason"),
        CheckConstraint("left_at IS NULL OR left_at >= entered_at", name="left_after_entered"),
        CheckConstraint("wait IS NULL OR wait >= interval '0'", name="wait_nonnegative"),
        Index(None, "queue", "entered_at"),
    )

    case_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("cases.id", ondelete="RESTRICT"))
    seq: Mapped[int] = mapped_column(Integer)
    queue: Mapped[str] = mapped_column(String(64))
    entered_at: Mapped[datetime]
    left_at: Mapped[datetime | None]
    exit_reason: Mapped[str | None] = mapped_column(String(16))
    wait: Mapped[timedelta | None] = mapped_column(Interval)


class CaseStep(Base):
    """One timeline step of a case that is neither the case nor a queue stay (migration
    0019): a menu attempt (``menu``: the menu, the option's key and target when one was
    chosen, never other keys) or an agent rung for the queued caller (``offer``: the queue,
    the agent, from ``at`` to ``ended_at``, how it ended). ``seq`` counts per kind.

    Retention and erasure blank a menu step's ``choice`` and ``option`` with the case's
    personal data (:data:`BLANK_MENU_STEP`); the times and the offers stay, like the
    case's timings and its agent."""

    __tablename__ = "case_events"
    __table_args__ = (
        PrimaryKeyConstraint("case_id", "kind", "seq"),
        CheckConstraint("seq >= 0", name="seq_nonnegative"),
        CheckConstraint(sql_in("kind", CaseStepKind), name="kind_known"),
        CheckConstraint(
            f"(kind = 'menu' AND menu IS NOT NULL AND {sql_in('result', MenuResult)} "
            "AND queue IS NULL AND agent_login IS NULL AND ended_at IS NULL) OR "
            f"(kind = 'offer' AND queue IS NOT NULL AND agent_login IS NOT NULL "
            f"AND ended_at IS NOT NULL AND {sql_in('result', OfferResult)} "
            "AND menu IS NULL AND choice IS NULL AND option IS NULL)",
            name="kind_fields",
        ),
        CheckConstraint("choice IS NULL OR result = 'chosen'", name="choice_only_chosen"),
        CheckConstraint("ended_at IS NULL OR ended_at >= at", name="end_after_start"),
    )

    case_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("cases.id", ondelete="RESTRICT"))
    kind: Mapped[str] = mapped_column(String(8))
    seq: Mapped[int] = mapped_column(Integer)
    at: Mapped[datetime]
    ended_at: Mapped[datetime | None]
    result: Mapped[str] = mapped_column(String(16))
    menu: Mapped[str | None] = mapped_column(String(64))
    choice: Mapped[str | None] = mapped_column(String(16))
    option: Mapped[str | None] = mapped_column(String(200))
    queue: Mapped[str | None] = mapped_column(String(64))
    agent_login: Mapped[str | None] = mapped_column(String(64))
    agent_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="RESTRICT"))


# What retention and erasure blank in a case's menu steps (the caller's choices).
BLANK_MENU_STEP: dict[str, None] = {"choice": None, "option": None}


class ContactRequest(Base):
    """A callback / contact request; agents claim them (``FOR UPDATE SKIP LOCKED``)."""

    __tablename__ = "contact_requests"
    __table_args__ = (
        CheckConstraint(sql_in("channel", Channel), name="channel_known"),
        CheckConstraint(sql_in("status", ContactStatus), name="status_known"),
        CheckConstraint(
            "(status = 'claimed') = (claimed_by IS NOT NULL)", name="claimed_has_agent"
        ),
        CheckConstraint(
            "(status IN ('done', 'cancelled')) = (closed_at IS NOT NULL)", name="closed_has_time"
        ),
        CheckConstraint("attempts >= 0", name="attempts_nonnegative"),
        CheckConstraint(
            "personal_data_erased_at IS NOT NULL OR callback_number IS NOT NULL "
            "OR email IS NOT NULL OR message IS NOT NULL",
            name="has_contact",
        ),
        CheckConstraint(
            "personal_data_erased_at IS NULL OR (callback_number IS NULL AND name IS NULL "
            "AND email IS NULL AND message IS NULL)",
            name="erased_is_blank",
        ),
        Index(None, "tenant_id", "status", "requested_at"),
        # Callback dialer (migration 0005): due requests of a queue, by virtual arrival.
        Index(None, "queue", "status", "next_attempt_at"),
        CheckConstraint(
            f"outcome IS NULL OR {sql_in('outcome', CallbackOutcome)}", name="outcome_known"
        ),
        CheckConstraint("(dialing_by IS NULL) = (dialing_since IS NULL)", name="lease_has_time"),
        # Webhook intake (migration 0007): a gateway's retry carries the same key.
        Index(None, "tenant_id", "idempotency_key", unique=True),
        CheckConstraint(
            "(idempotency_key IS NULL) = (request_hash IS NULL)", name="idempotency_has_hash"
        ),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    tenant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tenants.id", ondelete="RESTRICT"))
    case_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("cases.id", ondelete="RESTRICT"), index=True
    )
    channel: Mapped[str] = mapped_column(String(8))
    # The queue (team) that should handle it, when the flow knows.
    queue: Mapped[str | None] = mapped_column(String(64))
    requested_at: Mapped[datetime]
    callback_number: Mapped[str | None] = mapped_column(String(64))
    name: Mapped[str | None] = mapped_column(String(200))
    email: Mapped[str | None] = mapped_column(String(320))
    message: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), server_default="open")
    claimed_by: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="RESTRICT")
    )
    claimed_at: Mapped[datetime | None]
    attempts: Mapped[int] = mapped_column(Integer, server_default="0")
    # The last agent who handled it (called back, answered the message...).
    last_agent_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="RESTRICT")
    )
    last_handled_at: Mapped[datetime | None]
    closed_at: Mapped[datetime | None]
    personal_data_erased_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = created_at()
    # Webhook intake: the gateway's idempotency key and a SHA-256 of the normalised submission.
    idempotency_key: Mapped[str | None] = mapped_column(String(128))
    request_hash: Mapped[str | None] = mapped_column(String(64))
    # Callback dialer (migration 0005). queue_entered_at: the caller's place in the queue
    # (virtual arrival); next_attempt_at: not dialled before (NULL: due now); outcome: how it
    # ended; dialing_by/dialing_since: the lease of the controller dialling it right now.
    queue_entered_at: Mapped[datetime | None]
    next_attempt_at: Mapped[datetime | None]
    outcome: Mapped[str | None] = mapped_column(String(16))
    dialing_by: Mapped[str | None] = mapped_column(String(64))
    dialing_since: Mapped[datetime | None]


class CallbackAttempt(Base):
    """One dial attempt of a callback request: who dialled, when, how it ended."""

    __tablename__ = "callback_attempts"
    __table_args__ = (
        PrimaryKeyConstraint("request_id", "attempt_no"),
        CheckConstraint("attempt_no >= 1", name="attempt_no_positive"),
        CheckConstraint(
            f"result IS NULL OR {sql_in('result', CallbackResult)}", name="result_known"
        ),
        CheckConstraint("(ended_at IS NULL) = (result IS NULL)", name="ended_has_result"),
        CheckConstraint("ended_at IS NULL OR ended_at >= started_at", name="end_after_start"),
    )

    request_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("contact_requests.id", ondelete="CASCADE")
    )
    attempt_no: Mapped[int] = mapped_column(Integer)
    agent_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="RESTRICT"), index=True
    )
    agent_login: Mapped[str | None] = mapped_column(String(64))
    controller: Mapped[str] = mapped_column(String(64))
    started_at: Mapped[datetime]
    answered_at: Mapped[datetime | None]
    ended_at: Mapped[datetime | None]
    result: Mapped[str | None] = mapped_column(String(16))
