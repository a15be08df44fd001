"""Menu → queue → agent calls with SIPp agents: calls per second into the queues."""

from __future__ import annotations

from pathlib import Path

from ivr.config import Settings


def run(settings: Settings, workdir: Path) -> str:
    return "call center: not measured yet"
