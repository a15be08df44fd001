"""Retention and data-subject rights: the periodic sweeper that deletes audio and blanks case
personal data past each tenant's retention, and the admin API for export, erasure and
restriction."""

from __future__ import annotations

from ivr.core import Core, Feature
from ivr.http.subjects import add_routes
from retention.periodic import run_periodic
from retention.rights import SubjectRights
from retention.sweeper import SweepConfig, Sweeper
from storage.repositories.cases import CaseRepository
from storage.repositories.sweep import SweepLock, SweepRepository


async def wire(core: Core) -> Feature:
    s = core.settings
    sweeper = Sweeper(
        SweepRepository(core.sessions),
        SweepLock(core.engine),
        CaseRepository(core.sessions),
        core.audio,
        core.clock,
        SweepConfig(batch=s.sweep_batch),
    )
    rights = SubjectRights(core.sessions, core.audio, core.clock)
    return Feature(
        "rights",
        routes=(lambda app: add_routes(app, rights, core.guard, s.state_dir / "exports"),),
        tasks=(("retention-sweep", lambda: run_periodic(sweeper, s.sweep_interval)),),
    )
