"""The injectable clock: every component that needs 'now' takes one (see :mod:`storage.clock`,
where it is defined so the lower layers can use it without importing ``ivr``)."""

from __future__ import annotations

from storage.clock import Clock, utcnow

__all__ = ["Clock", "utcnow"]
