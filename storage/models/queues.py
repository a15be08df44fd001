"""Shared queues (migration 0020): the entries waiting in every controller's queues.

Several controllers (one per Asterisk node) keep one queue order here. ``queue_waiting`` has
one row per waiting entry, with the controller that holds its caller and that controller's
lease (renewed every tick; an entry whose lease lapsed leaves the queue), and its ring state
(``ring``: the current offer, the agents still ringing, the agents tried this round).
``queue_rings`` has one row per ringing agent: its primary key makes "an agent is offered one
call at a time" a rule of the database too. ``queue_departures`` tells a controller how its
entry left when another controller took it out (max_wait).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, CheckConstraint, ForeignKey, Index, String, func
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from storage.models.base import Base


class QueueWaitingRow(Base):
    __tablename__ = "queue_waiting"
    __table_args__ = (
        CheckConstraint("kind IN ('live', 'callback')", name="kind_known"),
        Index(None, "queue", "enqueued_at", "seq"),
    )

    entry_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    queue: Mapped[str] = mapped_column(String(130))
    kind: Mapped[str] = mapped_column(String(8))
    enqueued_at: Mapped[datetime]
    seq: Mapped[int] = mapped_column(BigInteger)
    controller: Mapped[str] = mapped_column(String(64))
    lease_until: Mapped[datetime]
    ring: Mapped[dict[str, Any]] = mapped_column(JSONB)
    updated_at: Mapped[datetime] = mapped_column(server_default=func.now())


class QueueRingRow(Base):
    __tablename__ = "queue_rings"

    agent_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    entry_id: Mapped[str] = mapped_column(
        String(200), ForeignKey("queue_waiting.entry_id", ondelete="CASCADE")
    )
    offer_id: Mapped[str] = mapped_column(String(200))


class QueueDepartureRow(Base):
    __tablename__ = "queue_departures"

    entry_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    controller: Mapped[str] = mapped_column(String(64), index=True)
    departure: Mapped[dict[str, Any]] = mapped_column(JSONB)
    at: Mapped[datetime]
