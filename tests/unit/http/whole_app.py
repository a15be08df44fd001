"""The whole HTTP API as ``linja serve`` builds it: every feature wired by its own
``wire(core)`` (on a core of fakes for the telephony side, real repositories for the rest),
and the application made by :func:`ivr.app.http_app`. The tests point the core's engine at a
Postgres port where nothing listens.
"""

from __future__ import annotations

import uuid
from contextlib import AsyncExitStack
from pathlib import Path

from aiohttp import web

from ivr.app import http_app
from tests.unit.fake_core import fake_core
from tests.unit.wiring import wire_all

INTAKE_SECRET = "edge-tests-intake-secret"


async def build_whole_app(tmp_path: Path, stack: AsyncExitStack) -> web.Application:
    """The HTTP application with every feature's routes, as :func:`ivr.app.serve` makes it,
    on a core whose Postgres is down."""
    core = fake_core(tmp_path, intake_secret=INTAKE_SECRET)
    return http_app(await wire_all(core, stack))


# Plausible values for the routes' match_info, tried in order until the route matches.
SAMPLE_VALUES: dict[str, tuple[str, ...]] = {
    "agent": ("agent1",),
    "action": ("login", "pause", "complete"),
    "id": (str(uuid.UUID(int=7)),),
    "member": (str(uuid.UUID(int=10)),),
    "case_id": (str(uuid.UUID(int=8)),),
    "tenant": ("demo",),
    "channel": ("sms",),
    "slug": ("demo",),
    "number": ("100",),
    "login": ("agent1",),
    "name": (f"demo/recordings/2026/11/{uuid.UUID(int=9)}.wav", "console.css"),
    "code": ("en",),
}
