"""An in-memory CallbackStore (the dialer's side of ``CallbackRepository``) for dialer tests.

It keeps the repository's rules: due = open, past ``next_attempt_at``, no live lease, case not
restricted, oldest place first; a claim takes the lease and, when it takes over an expired
one, closes the attempts its dead controller left open as ``interrupted``; ``renew``,
``retry_later`` and ``finish`` change nothing unless the lease is the caller's. ``down = True``
makes every call raise StorageUnavailable (Postgres gone); ``broken[op]`` raises once in
``op``. Every call is logged in ``ops`` as ``(op, mark())`` so tests can place it among the
ARI requests (``mark`` defaults to a running count).
"""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from storage.errors import StorageUnavailable
from storage.events import CallbackOutcome, CallbackResult
from storage.repositories.callbacks import CallbackRequest

TENANT_ID = uuid.UUID(int=1)


@dataclass
class StoredRequest:
    id: uuid.UUID
    tenant: str
    queue: str
    number: str
    place: datetime
    case_id: uuid.UUID = field(default_factory=uuid.uuid4)
    tenant_id: uuid.UUID = TENANT_ID
    status: str = "open"  # open, done, cancelled
    outcome: CallbackOutcome | None = None
    attempts: int = 0
    next_attempt_at: datetime | None = None
    dialing_by: str | None = None
    dialing_since: datetime | None = None
    last_agent_id: uuid.UUID | None = None
    closed_at: datetime | None = None
    served: tuple[datetime, datetime] | None = None
    case_restricted: bool = False

    def view(self) -> CallbackRequest:
        return CallbackRequest(
            id=self.id,
            tenant_id=self.tenant_id,
            tenant=self.tenant,
            case_id=self.case_id,
            queue=self.queue,
            number=self.number,
            place=self.place,
            attempts=self.attempts,
            next_attempt_at=self.next_attempt_at,
        )


@dataclass
class StoredAttempt:
    request_id: uuid.UUID
    attempt_no: int
    controller: str
    started_at: datetime
    agent_login: str | None
    agent_id: uuid.UUID | None
    answered_at: datetime | None = None
    ended_at: datetime | None = None
    result: CallbackResult | None = None


class MemoryCallbackStore:
    def __init__(self, mark: Callable[[], int] | None = None) -> None:
        self.requests: dict[uuid.UUID, StoredRequest] = {}
        self.attempt_rows: list[StoredAttempt] = []
        self.down = False
        self.broken: dict[str, BaseException] = {}
        self.ops: list[tuple[str, int]] = []
        counter = itertools.count()
        self._mark = mark or (lambda: next(counter))

    # -- test side ---------------------------------------------------------------------------

    def add(
        self,
        number: str,
        place: datetime,
        *,
        tenant: str = "demo",
        queue: str = "support",
        **fields: object,
    ) -> StoredRequest:
        request = replace(StoredRequest(uuid.uuid4(), tenant, queue, number, place), **fields)
        self.requests[request.id] = request
        return request

    def attempts(self, request_id: uuid.UUID) -> list[StoredAttempt]:
        return sorted(
            (a for a in self.attempt_rows if a.request_id == request_id),
            key=lambda a: a.attempt_no,
        )

    def calls(self, *ops: str) -> list[str]:
        """The operations called so far, only those named in ``ops`` (all if none)."""
        return [op for op, _ in self.ops if not ops or op in ops]

    def mark_of(self, op: str) -> int:
        """The mark of the first call of ``op``."""
        return next(mark for name, mark in self.ops if name == op)

    def _enter(self, op: str) -> None:
        self.ops.append((op, self._mark()))
        failure = self.broken.pop(op, None)
        if failure is not None:
            raise failure
        if self.down:
            raise StorageUnavailable("database unavailable: connection refused (test)")

    def _dialable(self, r: StoredRequest, now: datetime, lease: float) -> bool:
        lease_free = r.dialing_by is None or (
            r.dialing_since is not None and r.dialing_since < now - timedelta(seconds=lease)
        )
        return (
            r.status == "open"
            and not r.case_restricted
            and (r.next_attempt_at is None or r.next_attempt_at <= now)
            and lease_free
        )

    def _ours(self, request_id: uuid.UUID, controller: str) -> StoredRequest | None:
        r = self.requests.get(request_id)
        return r if r is not None and r.dialing_by == controller else None

    # -- CallbackStore -------------------------------------------------------------------------

    async def due(
        self, now: datetime, *, lease: float, limit: int = 500, takeovers: bool = True
    ) -> list[CallbackRequest]:
        self._enter("due")
        found = [
            r
            for r in self.requests.values()
            if self._dialable(r, now, lease) and (takeovers or r.dialing_by is None)
        ]
        found.sort(key=lambda r: (r.place, r.id))
        return [r.view() for r in found[:limit]]

    async def claim(
        self,
        request_id: uuid.UUID,
        controller: str,
        now: datetime,
        *,
        lease: float,
        takeovers: bool = True,
    ) -> CallbackRequest | None:
        self._enter("claim")
        r = self.requests.get(request_id)
        if r is None or not self._dialable(r, now, lease):
            return None
        if not takeovers and r.dialing_by is not None:
            return None
        if r.dialing_by is not None:  # an expired lease: its controller died mid-dial
            reached = False
            for a in self.attempts(request_id):
                if a.ended_at is None:
                    a.ended_at, a.result = now, CallbackResult.INTERRUPTED
                    reached = reached or a.answered_at is not None
            if reached:  # the customer had answered: served, not dialled again
                r.status, r.outcome, r.attempts = "done", CallbackOutcome.ANSWERED, r.attempts + 1
                r.dialing_by = r.dialing_since = None
                return None
        r.dialing_by, r.dialing_since = controller, now
        return r.view()

    async def renew(self, request_id: uuid.UUID, controller: str, now: datetime) -> bool:
        self._enter("renew")
        r = self._ours(request_id, controller)
        if r is None:
            return False
        r.dialing_since = now
        return True

    async def release(self, request_id: uuid.UUID, controller: str) -> None:
        self._enter("release")
        r = self._ours(request_id, controller)
        if r is not None:
            r.dialing_by = r.dialing_since = None

    async def start_attempt(
        self,
        request_id: uuid.UUID,
        controller: str,
        now: datetime,
        *,
        agent_login: str | None,
        agent_id: uuid.UUID | None,
    ) -> int:
        self._enter("start_attempt")
        number = len(self.attempts(request_id)) + 1
        self.attempt_rows.append(
            StoredAttempt(request_id, number, controller, now, agent_login, agent_id)
        )
        return number

    def _attempt(self, request_id: uuid.UUID, attempt_no: int) -> StoredAttempt | None:
        return next(
            (a for a in self.attempts(request_id) if a.attempt_no == attempt_no),
            None,
        )

    async def attempt_answered(self, request_id: uuid.UUID, attempt_no: int, at: datetime) -> None:
        self._enter("attempt_answered")
        a = self._attempt(request_id, attempt_no)
        if a is not None:
            a.answered_at = max(a.started_at, at)

    async def end_attempt(
        self,
        request_id: uuid.UUID,
        attempt_no: int,
        result: CallbackResult,
        at: datetime,
        *,
        agent_login: str | None = None,
        agent_id: uuid.UUID | None = None,
    ) -> None:
        self._enter("end_attempt")
        a = self._attempt(request_id, attempt_no)
        if a is not None:
            a.result, a.ended_at = result, max(a.started_at, at)
            a.agent_login = agent_login or a.agent_login
            a.agent_id = agent_id or a.agent_id

    async def retry_later(
        self,
        request_id: uuid.UUID,
        controller: str,
        now: datetime,
        next_at: datetime,
        *,
        agent_id: uuid.UUID | None,
    ) -> bool:
        self._enter("retry_later")
        r = self._ours(request_id, controller)
        if r is None:
            return False
        r.attempts += 1
        r.next_attempt_at = next_at
        r.dialing_by = r.dialing_since = None
        r.last_agent_id = agent_id or r.last_agent_id
        return True

    async def finish(
        self,
        request_id: uuid.UUID,
        controller: str,
        outcome: CallbackOutcome,
        now: datetime,
        *,
        agent_id: uuid.UUID | None,
        counts_attempt: bool = True,
        served: tuple[datetime, datetime] | None = None,
    ) -> bool:
        self._enter("finish")
        r = self._ours(request_id, controller)
        if r is None:
            return False
        done = outcome in (CallbackOutcome.ANSWERED, CallbackOutcome.GAVE_UP)
        r.status = "done" if done else "cancelled"
        r.outcome = outcome
        r.attempts += 1 if counts_attempt else 0
        r.dialing_by = r.dialing_since = None
        r.last_agent_id = agent_id or r.last_agent_id
        r.closed_at = now
        r.served = served
        return True
