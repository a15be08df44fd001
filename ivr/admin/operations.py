"""The management operations behind ``linja tenant|number|user`` and ``/api/tenants``,
``/api/numbers``, ``/api/users``: validate (:mod:`ivr.admin.validation`), then one audited
repository change with the acting :class:`~storage.domain.Actor`.

Who may do what is the caller's business (the API's guard and ``Principal.scope``, the
CLI's ``--by``); these functions take input as a mapping of field -> value, raise
:class:`~ivr.admin.validation.Invalid` (every bad field; nothing changed) or
:class:`Taken` (a slug, login, number or phone login already in use), and return the stored
result.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ivr.admin import validation as v
from ivr.admin.routing import number_warnings
from storage.domain import Actor, Page, ServiceNumberInfo, TenantInfo, UserInfo
from storage.errors import Conflict, NotFound
from storage.events import Role
from storage.repositories.tenants import TenantRepository
from storage.repositories.users import UserRepository

log = logging.getLogger(__name__)

PAGE_MAX = 200


class Taken(v.Invalid):
    """The value of a unique field is already in use (the API answers 409)."""


@dataclass(frozen=True)
class AddedNumber:
    number: ServiceNumberInfo
    warnings: list[str]


def page_limit(raw: object, default: int = 50) -> int:
    """A page size 1..PAGE_MAX from a query or CLI value; :class:`Invalid` otherwise."""
    if raw is None:
        return default
    text = str(raw)
    if not (text.isascii() and text.isdigit()) or not 1 <= int(text) <= PAGE_MAX:
        raise v.Invalid({"limit": f"must be a whole number 1..{PAGE_MAX}"})
    return int(text)


def page_after(raw: object) -> str | None:
    if raw is None or raw == "":
        return None
    text = str(raw)
    if len(text) > 100 or not text.isprintable():
        raise v.Invalid({"after": "not a cursor of this list"})
    return text


class Management:
    def __init__(
        self,
        tenants: TenantRepository,
        users: UserRepository,
        *,
        dialplan_dir: Path,
        app: str = "linja",
    ) -> None:
        self.tenants = tenants
        self.users = users
        self._dialplan_dir = dialplan_dir
        self._app = app

    def routed_by(self, dialplan_dir: Path) -> Management:
        """The same operations, checking number routing in another dialplan directory."""
        return Management(self.tenants, self.users, dialplan_dir=dialplan_dir, app=self._app)

    # -- tenants -------------------------------------------------------------------------

    async def tenant(self, slug: str) -> TenantInfo:
        """The tenant ``slug`` (NotFound when there is none)."""
        return await self.tenants.by_slug(slug[:64])

    async def tenant_of(self, field: str, slug: str) -> TenantInfo:
        """The tenant a submission's ``field`` names, or :class:`Invalid` on that field."""
        try:
            return await self.tenants.by_slug(slug)
        except NotFound:
            raise v.Invalid({field: f"no tenant '{slug}'"}) from None

    async def slug_of(self, tenant_id: uuid.UUID | None) -> str | None:
        return None if tenant_id is None else (await self.tenants.get(tenant_id)).slug

    async def add_tenant(self, data: Mapping[str, object], actor: Actor) -> TenantInfo:
        values = v.validate_tenant_create(data)
        try:
            tenant = await self.tenants.create(
                values["slug"],
                values["name"],
                actor,
                language=values.get("language", "fi"),
                time_zone=values.get("time_zone"),
                recording_retention=values.get("recording_retention"),
                voicemail_retention=values.get("voice_message_retention"),
                case_retention=values.get("case_retention"),
                transcripts_enabled=values.get("transcripts"),
                transcript_retention=values.get("transcript_retention"),
            )
        except Conflict:
            raise Taken({"slug": f"tenant '{values['slug']}' exists already"}) from None
        log.info("[tenant %s] created by %s", tenant.slug, actor.label)
        return tenant

    async def update_tenant(
        self, tenant: TenantInfo, data: Mapping[str, object], actor: Actor
    ) -> TenantInfo:
        cols = v.tenant_columns(v.validate_tenant_update(data))
        updated = await self.tenants.update(tenant.id, actor, cols)
        log.info("[tenant %s] %s changed by %s", tenant.slug, ", ".join(sorted(cols)), actor.label)
        return updated

    # -- numbers -------------------------------------------------------------------------

    async def add_number(self, data: Mapping[str, object], actor: Actor) -> AddedNumber:
        values = v.validate_number(data)
        tenant = await self.tenant_of("tenant", values["tenant"])
        try:
            row = await self.tenants.add_number(
                tenant.id,
                values["number"],
                values["service"],
                actor,
                description=values.get("description", ""),
            )
        except Conflict:
            raise Taken({"number": f"{values['number']} is a service number already"}) from None
        log.info(
            "[tenant %s] number %s (%s) added by %s",
            tenant.slug,
            row.number,
            row.service,
            actor.label,
        )
        return AddedNumber(row, self.warnings(row.number, tenant.slug, row.service))

    def warnings(self, number: str, tenant: str, service: str) -> list[str]:
        return number_warnings(self._dialplan_dir, number, tenant, service, app=self._app)

    async def number(self, number: str) -> ServiceNumberInfo:
        return await self.tenants.by_number(v.service_number_or_404(number))

    async def remove_number(self, number: str, actor: Actor) -> ServiceNumberInfo:
        removed = await self.tenants.remove_number(v.service_number_or_404(number), actor)
        log.info("number %s removed by %s", removed.number, actor.label)
        return removed

    async def numbers(
        self, tenant_id: uuid.UUID | None, after: str | None, limit: int
    ) -> Page[ServiceNumberInfo]:
        return await self.tenants.number_page(tenant_id=tenant_id, after=after, limit=limit)

    # -- users ---------------------------------------------------------------------------

    async def user(self, login: str) -> UserInfo:
        return await self.users.by_login(login[:100])

    async def add_user(self, data: Mapping[str, object], actor: Actor) -> UserInfo:
        values = v.validate_user_create(data)
        tenant_id = None
        if values.get("tenant") is not None:
            tenant_id = (await self.tenant_of("tenant", values["tenant"])).id
        try:
            user = await self.users.create(
                tenant_id=tenant_id,
                name=values["name"],
                login=values["login"],
                password=values["password"],
                role=values["role"],
                actor=actor,
                email=values.get("email"),
                phone_number=values.get("phone_number"),
            )
        except Conflict:
            raise Taken({"login": f"the login '{values['login']}' is taken"}) from None
        log.info("user %s (%s) created by %s", user.login, user.role.value, actor.label)
        return user

    async def update_user(
        self, user: UserInfo, data: Mapping[str, object], actor: Actor
    ) -> UserInfo:
        values: dict[str, Any] = v.validate_user_update(data)
        new_role = values.get("role")
        if new_role is not None and (new_role is Role.OPERATOR) != (user.role is Role.OPERATOR):
            raise v.Invalid(
                {"role": "an operator stays an operator, a tenant's user stays in the tenant"}
            )
        if new_role is not None:
            values["role"] = new_role.value
        updated = await self.users.update(user.id, actor, values)
        log.info("user %s: %s changed by %s", user.login, ", ".join(sorted(values)), actor.label)
        return updated

    async def set_password(
        self, user: UserInfo, data: Mapping[str, object], actor: Actor
    ) -> UserInfo:
        password = v.validate_password(data)
        changed = await self.users.set_password(user.id, password, actor)
        log.info("user %s: password set by %s", user.login, actor.label)
        return changed

    async def set_phone_login(
        self, user: UserInfo, data: Mapping[str, object], actor: Actor
    ) -> UserInfo:
        phone_login, pin = v.validate_phone_login(data)
        try:
            changed = await self.users.set_phone_login(user.id, phone_login, pin, actor)
        except Conflict:
            raise Taken({"phone_login": "another user has this phone login"}) from None
        log.info(
            "user %s: phone login %s by %s",
            user.login,
            "set" if phone_login else "cleared",
            actor.label,
        )
        return changed

    async def disable(self, user: UserInfo, actor: Actor) -> UserInfo:
        if actor.user_id == user.id:
            raise v.Invalid({"login": "you cannot disable yourself"})
        changed = await self.users.disable(user.id, actor)
        log.info("user %s disabled by %s", user.login, actor.label)
        return changed

    async def enable(self, user: UserInfo, actor: Actor) -> UserInfo:
        changed = await self.users.enable(user.id, actor)
        log.info("user %s enabled by %s", user.login, actor.label)
        return changed

    async def user_page(
        self, tenant_id: uuid.UUID | None, after: str | None, limit: int
    ) -> Page[UserInfo]:
        return await self.users.page(tenant_id=tenant_id, after=after, limit=limit)

    async def tenant_page(self, after: str | None, limit: int) -> Page[TenantInfo]:
        return await self.tenants.page(after=after, limit=limit)
