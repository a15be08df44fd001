"""What a page area's ``add_pages(app, deps)`` gets: the controller's core (its guard,
repositories, and the services earlier features offer: ``deps.core.services.need(...)``) and
:meth:`PageDeps.render`."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from ivr.console.render import Renderer
from ivr.core import Core
from ivr.http.guard import Guard, Principal
from ivr.http.problems import NotThere
from storage.domain import TenantInfo


@dataclass(frozen=True)
class PageDeps:
    core: Core
    renderer: Renderer

    @property
    def guard(self) -> Guard:
        return self.core.guard

    async def tenant(self, tenant_id: uuid.UUID | None) -> TenantInfo | None:
        return None if tenant_id is None else await self.core.tenants.get(tenant_id)

    async def tenant_by_slug(self, slug: str) -> TenantInfo:
        tenant_id = await self.core.directory.tenant_id(slug[:64])
        found = await self.tenant(tenant_id)
        if found is None:
            raise NotThere(f"unknown tenant {slug[:64]!r}")
        return found

    async def render(
        self,
        request: web.Request,
        who: Principal,
        template: str,
        context: Mapping[str, Any] | None = None,
        *,
        status: int = 200,
    ) -> web.Response:
        """``template`` with ``context`` in the user's language (the browser's choice, else
        their tenant's), inside the base layout with the nav their role may see."""
        tenant = await self.tenant(who.user.tenant_id)
        return self.renderer.render(
            request,
            who,
            template,
            context,
            tenant_language=None if tenant is None else tenant.language,
            status=status,
        )
