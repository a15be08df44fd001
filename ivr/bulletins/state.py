"""What a bulletin number plays now: plain values the announcement flow reads.

Kept apart from :mod:`ivr.bulletins.service` (which loads them from storage) so the flow
imports no storage code.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime

__all__ = ["NumberState", "Prepared"]


@dataclass(frozen=True)
class Prepared:
    bulletin_id: uuid.UUID
    media: str
    duration: float
    starts_at: datetime
    ends_at: datetime | None

    def active_at(self, now: datetime) -> bool:
        return self.starts_at <= now and (self.ends_at is None or now < self.ends_at)


@dataclass(frozen=True)
class NumberState:
    number_id: uuid.UUID
    number: str
    tenant: str
    language: str
    no_disruptions: Prepared
    bulletins: tuple[Prepared, ...] = field(default=())

    def active(self, now: datetime) -> list[Prepared]:
        return [b for b in self.bulletins if b.active_at(now)]

    def media(self, active: list[Prepared]) -> list[str]:
        """What a caller hears while ``active`` (of :meth:`active`) is in force: those
        bulletins, or the "no known disruptions" prompt."""
        return [p.media for p in active] or [self.no_disruptions.media]
