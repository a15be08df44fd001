"""Agent state (migration 0018): one row per agent, written by the controller that changes it.

The row is the agent's :class:`ivr.callcenter.agents.Agent` record (its ``to_dict`` fields as
columns), so a restarted controller restores its board from it and the wallboard reads who is
available, ringing, talking, in wrap-up, paused (with the reason) or logged out, and since
when. ``controller`` names the writer and ``version`` counts its writes: several controllers
may later share the table, each updating the rows of the agents it changes.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, CheckConstraint, Integer, String, func
from sqlalchemy.orm import Mapped, mapped_column

from storage.models.base import Base

AGENT_STATES = ("logged_out", "available", "ringing", "busy", "wrap_up", "paused")


class AgentStateRow(Base):
    __tablename__ = "agent_states"
    __table_args__ = (
        CheckConstraint(
            "state IN (" + ", ".join(f"'{s}'" for s in AGENT_STATES) + ")", name="state_known"
        ),
        CheckConstraint("pending IS NULL OR pending IN ('pause', 'logout')", name="pending_known"),
        CheckConstraint("calls >= 0", name="calls_nonnegative"),
    )

    agent_id: Mapped[str] = mapped_column(String(64), primary_key=True)  # the login
    state: Mapped[str] = mapped_column(String(16))
    since: Mapped[datetime | None]
    idle_since: Mapped[datetime | None]
    wrap_up_until: Mapped[datetime | None]
    pause_reason: Mapped[str | None] = mapped_column(String(200))
    offer_id: Mapped[str | None] = mapped_column(String(200))
    entry_id: Mapped[str | None] = mapped_column(String(200))
    queue: Mapped[str | None] = mapped_column(String(130))  # the engine's "<tenant>/<queue>"
    answered_at: Mapped[datetime | None]
    pending: Mapped[str | None] = mapped_column(String(8))
    pending_reason: Mapped[str | None] = mapped_column(String(200))
    calls: Mapped[int] = mapped_column(Integer, server_default="0")
    controller: Mapped[str] = mapped_column(String(64))
    version: Mapped[int] = mapped_column(BigInteger, server_default="1")
    updated_at: Mapped[datetime] = mapped_column(server_default=func.now())
