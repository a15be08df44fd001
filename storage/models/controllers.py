"""Controllers and their heartbeats (migration 0021): one row per controller process.

A controller registers itself at start (``started_at``), beats every few seconds
(``beat_at``, the database's clock, so machines whose clocks differ still agree) and notes a
clean stop (``stopped_at``). One whose beat is older than the bound
(``LINJA_CONTROLLER_DOWN_AFTER``) is down: another controller then ends the cases it held
(:class:`storage.repositories.controllers.ControllerRepository`). ``node`` is the address the
controller serves (its Asterisk node), for the wallboard and ``linja stack status``.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index, String, func
from sqlalchemy.orm import Mapped, mapped_column

from storage.models.base import Base


class ControllerRow(Base):
    __tablename__ = "controllers"
    __table_args__ = (Index(None, "node", "beat_at"),)

    id: Mapped[str] = mapped_column(String(64), primary_key=True)  # host:pid
    node: Mapped[str] = mapped_column(String(64))
    started_at: Mapped[datetime] = mapped_column(server_default=func.now())
    beat_at: Mapped[datetime] = mapped_column(server_default=func.now())
    stopped_at: Mapped[datetime | None]
