"""Data-subject rights: the admin API for export, erasure and restriction of one person's
data (the same service as `linja subject`)."""

from __future__ import annotations

from ivr.core import Core, Feature
from ivr.http.subjects import add_routes
from retention.copies import Copies
from retention.rights import SubjectRights


async def wire(core: Core) -> Feature:
    s = core.settings
    copies = Copies.in_state(s.state_dir, s.export_ttl)
    rights = SubjectRights(core.sessions, core.audio, core.clock, copies=copies)
    return Feature(
        "subjects", routes=(lambda app: add_routes(app, rights, core.guard, copies.bundles),)
    )
