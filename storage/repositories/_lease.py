"""The dialers' lease, one implementation for callback requests and call-out members.

A row is dialled by the controller holding its lease: ``dialing_by`` (controller id) and
``dialing_since`` (renewed while the call goes on). The row is claimed ``FOR UPDATE SKIP
LOCKED`` (a row another controller is claiming is skipped, never waited for). A lease older
than ``lease`` seconds belongs to a dead controller and may be **taken over** (only when
``takeovers``: a controller takes over only once Postgres has answered it for its takeover
grace, so that the holder, if alive, has written what it spooled during an outage). The
claim that takes over closes the dead controller's open attempts: ``interrupted``, or, for
an attempt that had been answered, with the table's "answered" result; the caller learns
whether one had been answered (the callback request is then closed as answered, never
dialled again) and the attempts' channels (to hang an orphaned leg up).

With ``down_after`` (the heartbeat's ``LINJA_CONTROLLER_DOWN_AFTER``, migration 0021), a lease
whose holder is **down** by its heartbeat (stopped cleanly, or no beat for ``down_after``
seconds: :mod:`storage.repositories.controllers`, the database's clock) is expired at once,
without waiting for ``lease`` seconds: a lost node's calls went with it, and its members are
called again within the heartbeat bound. A holder without a ``controllers`` row (heartbeats
off) is judged by the lease alone.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypeVar, cast

from sqlalchemy import ColumnElement, Select, and_, case, func, not_, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from storage.models.controllers import ControllerRow

__all__ = ["DeadAttempts", "Lease", "LeaseAttempts", "down_controllers"]

_S = TypeVar("_S", bound=Select[Any, Any])


def down_controllers(down_after: float) -> Select[str]:
    """The ids of controllers down by their heartbeat: stopped, or silent ``down_after`` s."""
    return select(ControllerRow.id).where(
        or_(
            ControllerRow.stopped_at.is_not(None),
            ControllerRow.beat_at < func.now() - timedelta(seconds=down_after),
        )
    )


@dataclass(frozen=True)
class Lease:
    """The lease columns of one table (its ``id`` is the row key)."""

    model: type[Any]
    holder: InstrumentedAttribute[str | None]  # dialing_by
    since: InstrumentedAttribute[datetime | None]  # dialing_since
    key: InstrumentedAttribute[uuid.UUID]

    def free(
        self,
        now: datetime,
        lease: float,
        *,
        takeovers: bool = True,
        down_after: float | None = None,
    ) -> ColumnElement[bool]:
        """Nobody holds it, or (``takeovers``) its holder let it expire or is down by its
        heartbeat (``down_after``)."""
        if not takeovers:
            return self.holder.is_(None)
        return or_(self.holder.is_(None), self.expired(now, lease, down_after))

    def expired(self, now: datetime, lease: float, down_after: float | None) -> ColumnElement[bool]:
        """Held, but not renewed for ``lease`` seconds or (``down_after``) its holder down."""
        old = self.since < now - timedelta(seconds=lease)
        if down_after is None:
            return old
        return or_(old, self.holder.in_(down_controllers(down_after)))

    def live(
        self, now: datetime, lease: float, down_after: float | None = None
    ) -> ColumnElement[bool]:
        """Held, and not expired: a call is up or ringing."""
        return and_(self.holder.is_not(None), not_(self.expired(now, lease, down_after)))

    def claimable(self, stmt: _S) -> _S:
        """``stmt`` (selecting the row) locking it, skipping rows others have locked."""
        return stmt.with_for_update(of=self.model, skip_locked=True)

    def take(self, row: Any, controller: str, now: datetime) -> None:
        setattr(row, self.holder.key, controller)
        setattr(row, self.since.key, now)

    async def renew(
        self, s: AsyncSession, row_id: uuid.UUID, controller: str, now: datetime
    ) -> bool:
        """Extends the lease; False if it is no longer ``controller``'s."""
        return await self.update_held(s, row_id, controller, {self.since.key: now})

    async def release(
        self,
        s: AsyncSession,
        row_id: uuid.UUID,
        controller: str,
        values: dict[str, object] | None = None,
    ) -> bool:
        """Gives the lease back (with ``values`` set on the row); False if not held."""
        return await self.update_held(
            s, row_id, controller, {**(values or {}), self.holder.key: None, self.since.key: None}
        )

    async def update_held(
        self, s: AsyncSession, row_id: uuid.UUID, controller: str, values: dict[str, object]
    ) -> bool:
        """Sets ``values`` on the row if ``controller`` holds its lease."""
        result = await s.execute(
            update(self.model)
            .where(self.key == row_id, self.holder == controller)
            .values(**values)
            .returning(self.key)
        )
        return result.first() is not None


@dataclass(frozen=True)
class DeadAttempts:
    """What a takeover closed: how many attempts, whether one had reached the person."""

    count: int
    answered: bool
    channels: tuple[str, ...]


@dataclass(frozen=True)
class LeaseAttempts:
    """The attempt rows of a leased table (one per dial, open while ``ended`` is NULL)."""

    parent: InstrumentedAttribute[uuid.UUID]  # the leased row's id
    started: InstrumentedAttribute[datetime]
    ended: InstrumentedAttribute[datetime | None]
    answered: InstrumentedAttribute[datetime | None]
    result: InstrumentedAttribute[str | None]
    interrupted: str  # the result of an attempt cut off by its controller's death
    answered_result: str | None = None  # ... once answered (None: ``interrupted`` too)
    channel: InstrumentedAttribute[str] | None = None

    async def close_dead(
        self, s: AsyncSession, parent_id: uuid.UUID, now: datetime
    ) -> DeadAttempts:
        """Ends the open attempts of ``parent_id`` left by a dead controller."""
        return await self.close(s, self.parent == parent_id, now)

    async def close(
        self, s: AsyncSession, which: ColumnElement[bool], now: datetime
    ) -> DeadAttempts:
        result: Any = self.interrupted
        if self.answered_result is not None:
            result = case(
                (self.answered.is_not(None), self.answered_result), else_=self.interrupted
            )
        table = self.parent.class_
        returning: list[InstrumentedAttribute[Any]] = [self.answered]
        if self.channel is not None:
            returning.append(cast(Any, self.channel))
        rows = (
            await s.execute(
                update(table)
                .where(which, self.ended.is_(None))
                .values({self.ended.key: func.greatest(self.started, now), self.result.key: result})
                .returning(*returning)
            )
        ).all()
        return DeadAttempts(
            count=len(rows),
            answered=any(r[0] is not None for r in rows),
            channels=tuple(str(r[1]) for r in rows) if self.channel is not None else (),
        )
