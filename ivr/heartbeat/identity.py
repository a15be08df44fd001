"""This controller's name: what its leases, attempts, cases and heartbeat row say."""

from __future__ import annotations

import os

__all__ = ["controller_id"]


def controller_id() -> str:
    """``<host>:<pid>``: unique among the controllers sharing one database (a restarted
    controller is a new one; the old name's heartbeat stops)."""
    return f"{os.uname().nodename}:{os.getpid()}"
