"""Data-subject rights: the admin API for export, erasure and restriction of one person's
data (the same service as `linja subject`)."""

from __future__ import annotations

from ivr.core import Core, Feature
from ivr.http.subjects import add_routes
from retention.rights import SubjectRights


async def wire(core: Core) -> Feature:
    rights = SubjectRights(core.sessions, core.audio, core.clock)
    export_dir = core.settings.state_dir / "exports"
    return Feature(
        "subjects", routes=(lambda app: add_routes(app, rights, core.guard, export_dir),)
    )
