"""The call-out dialer's outcome spool: an attempt's answer and end (a confirmation or a
refusal among them) and a lease's release that Postgres could not take, kept durably in
``<state_dir>/spool/callouts/`` until it can (the dialers' spool, :class:`Outbox`: fsync'd
JSON lines, replayed in order before anything is claimed).

A line holds only ids, the outcome and times (call-out member id, controller id, attempt
number, outcome, the key pressed, the member's new state): never a number or a name. Every write is
idempotent (an attempt is ended once; the member is changed only under the writer's lease),
so a segment replayed twice after a crash changes nothing.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Literal

from ivr.callbacks.outbox import MAX_BYTES, Outbox, encode_write

__all__ = ["CalloutOutbox", "CalloutWrite", "CalloutWriteOp"]

CalloutWriteOp = Literal["answered", "end_attempt", "release"]


@dataclass(frozen=True)
class CalloutWrite:
    """One store write of the call-out dialer, as it is kept in the spool."""

    op: CalloutWriteOp
    member: uuid.UUID  # callout_members.id
    controller: str  # whose lease the write is made under
    at: datetime | None = None
    attempt_no: int | None = None
    outcome: str | None = None  # AttemptOutcome value (end_attempt)
    digit: str | None = None  # the key pressed (end_attempt)
    state: str | None = None  # the member's new state (end_attempt; release: optional)
    next_at: datetime | None = None
    counts: bool = True  # the attempt counts against max_attempts
    keep_lease: bool = False  # a decided member still hears the thanks

    @property
    def key(self) -> uuid.UUID:
        """The row the write is about (the spool's key)."""
        return self.member

    def encode(self) -> bytes:
        return encode_write(self)

    @classmethod
    def decode(cls, line: bytes) -> CalloutWrite:
        """Raises ValueError (or KeyError/TypeError) for a line that is not one."""
        d = json.loads(line)
        when = datetime.fromisoformat
        op = d["op"]
        if op not in ("answered", "end_attempt", "release"):
            raise ValueError(f"unknown call-out write {op!r}")
        return cls(
            op=op,
            member=uuid.UUID(d["member"]),
            controller=str(d["controller"]),
            at=when(d["at"]) if "at" in d else None,
            attempt_no=int(d["attempt_no"]) if "attempt_no" in d else None,
            outcome=d.get("outcome"),
            digit=d.get("digit"),
            state=d.get("state"),
            next_at=when(d["next_at"]) if "next_at" in d else None,
            counts=bool(d.get("counts", True)),
            keep_lease=bool(d.get("keep_lease", False)),
        )


class CalloutOutbox(Outbox[CalloutWrite]):
    """The call-out dialer's spool (``<state_dir>/spool/callouts/``)."""

    def __init__(self, directory: Path, max_bytes: int = MAX_BYTES) -> None:
        super().__init__(directory, CalloutWrite.decode, tag="callout member", max_bytes=max_bytes)
