"""A core of fakes with a small tenant, for tests that need every feature wired but no
particular flows (the route loop, the feature seam)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ivr.clock import utcnow
from ivr.core import Core
from ivr.flowdefs.model import TenantFlows
from ivr.prompts import PromptRenderer
from tests.unit.fake_ari import FakeAri
from tests.unit.flows.support_recording import Sink, fake_speak, tenant_flows
from tests.unit.wiring import Definitions, unit_core, unit_settings


def fake_core(tmp_path: Path, flows: TenantFlows | None = None, **settings: Any) -> Core:
    """A core of fakes for ``flows`` (default: a small tenant) and a dead Postgres."""
    state = tmp_path / "state"
    return unit_core(
        unit_settings(tmp_path, **settings),
        ari=FakeAri(),
        clock=utcnow,
        cases=Sink(),
        prompts=PromptRenderer(state / "sounds", "/sounds", speak=fake_speak),
        definitions=Definitions(flows or tenant_flows(state)),
    )
