"""Cached id lookups the call flows need: tenant slug → id, agent login → user id and the
tenant the agent belongs to."""

from __future__ import annotations

import logging
import uuid

from storage.errors import NotFound
from storage.repositories.tenants import TenantRepository
from storage.repositories.users import UserRepository

log = logging.getLogger(__name__)


class Directory:
    def __init__(self, tenants: TenantRepository, users: UserRepository) -> None:
        self._tenants = tenants
        self._users = users
        self._tenant_ids: dict[str, uuid.UUID] = {}
        self._user_ids: dict[str, uuid.UUID] = {}
        self._agent_tenants: dict[str, uuid.UUID | None] = {}

    async def tenant_id(self, slug: str) -> uuid.UUID | None:
        if slug not in self._tenant_ids:
            try:
                self._tenant_ids[slug] = (await self._tenants.by_slug(slug)).id
            except NotFound:
                return None
        return self._tenant_ids[slug]

    async def user_id(self, login: str) -> uuid.UUID | None:
        """The user row of an agent login; None (logged) when the agent has none."""
        if login not in self._user_ids:
            try:
                self._user_ids[login] = (await self._users.by_login(login)).id
            except NotFound:
                log.warning("agent %s has no user row; case keeps no agent id", login)
                return None
        return self._user_ids[login]

    async def agent_tenant(self, login: str) -> uuid.UUID | None:
        """The tenant of the user behind an agent login; None when there is no such user
        (or it is an operator's, who belongs to no tenant). Unknown logins are not cached."""
        if login not in self._agent_tenants:
            try:
                self._agent_tenants[login] = (await self._users.by_login(login)).tenant_id
            except NotFound:
                return None
        return self._agent_tenants[login]
