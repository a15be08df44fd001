"""The injectable clock type: every component that needs 'now' takes one.

Defined here, at the bottom of the layers, so storage, recording and retention share it with
:mod:`ivr` (which re-exports it as :mod:`ivr.clock`) without importing ``ivr``.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

__all__ = ["Clock", "utcnow"]

Clock = Callable[[], datetime]


def utcnow() -> datetime:
    return datetime.now(UTC)
