"""The phone-login lockout policy and the result of one attempt (pure: no I/O).

From ``THRESHOLD`` consecutive wrong PINs on, a phone login is locked for ``BASE_LOCK``,
doubled with each further failure, at most ``MAX_LOCK``: 5 → 5 min, 6 → 10 min, 7 → 20 min…
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from storage.domain import UserInfo

THRESHOLD = 5
BASE_LOCK = timedelta(minutes=5)
MAX_LOCK = timedelta(hours=24)


def lock_for(failures: int) -> timedelta | None:
    """How long a login is locked after its ``failures``-th consecutive failure."""
    if failures < THRESHOLD:
        return None
    doubled: timedelta = BASE_LOCK * (2 ** min(failures - THRESHOLD, 20))
    return min(MAX_LOCK, doubled)


@dataclass(frozen=True, slots=True)
class PhoneLoginResult:
    user: UserInfo | None  # set only on success
    locked_until: datetime | None = None  # locked: no PIN was checked (or this failure locked)
    failures: int = 0  # the user's consecutive failures after this attempt
