"""The management API (``/api/tenants``, ``/api/numbers``, ``/api/users``) on the core's
repositories and guard; number routing is checked against the project's dialplan. Offers
:class:`~ivr.admin.operations.Management` (the console's admin pages)."""

from __future__ import annotations

from ivr.admin.operations import Management
from ivr.config import project_root
from ivr.core import Core, Feature
from ivr.http.admin import add_routes


async def wire(core: Core) -> Feature:
    admin = Management(
        core.tenants,
        core.users,
        dialplan_dir=project_root() / "dialplan",
        app=core.settings.ari_app,
    )
    core.services.offer(admin)  # the console's admin pages read through it
    return Feature("admin", routes=(lambda app: add_routes(app, admin, core.guard),))
