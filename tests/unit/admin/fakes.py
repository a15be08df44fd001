"""In-memory stand-ins for the tenant and user repositories, recording every change, and an
app with the management routes on them (the real guard, HTTP Basic on plain passwords)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from aiohttp import web

from ivr.admin.operations import Management
from ivr.http.admin import add_routes
from ivr.http.edge import new_app
from ivr.http.guard import Guard
from storage.domain import Actor, Page, ServiceNumberInfo, TenantInfo, UserInfo
from storage.errors import Conflict, NotFound
from storage.events import Role
from tests.unit.fake_audit import FakeAudit

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def page(rows: list[Any], key: Any, after: str | None, limit: int) -> Page[Any]:
    rows = sorted((r for r in rows if after is None or key(r) > after), key=key)
    if len(rows) > limit:
        return Page(rows[:limit], key(rows[limit - 1]))
    return Page(rows, None)


@dataclass
class World:
    tenants: dict[str, TenantInfo] = field(default_factory=dict)
    numbers: dict[str, ServiceNumberInfo] = field(default_factory=dict)
    users: dict[str, UserInfo] = field(default_factory=dict)
    passwords: dict[str, str] = field(default_factory=dict)
    changes: list[tuple[str, str]] = field(default_factory=list)

    def tenant(self, slug: str) -> TenantInfo:
        t = TenantInfo(
            uuid.uuid4(), slug, slug.title(), "fi",
            timedelta(days=90), timedelta(days=90), timedelta(days=365),
        )  # fmt: skip
        self.tenants[slug] = t
        return t

    def user(self, login: str, role: Role, tenant: TenantInfo | None, password: str) -> UserInfo:
        u = UserInfo(
            uuid.uuid4(), None if tenant is None else tenant.id, login.title(), login, None,
            role, None, None, False, NOW, None,
        )  # fmt: skip
        self.users[login] = u
        self.passwords[login] = password
        return u


class FakeTenants:
    def __init__(self, world: World) -> None:
        self.w = world

    async def by_slug(self, slug: str) -> TenantInfo:
        if slug not in self.w.tenants:
            raise NotFound("tenant", slug)
        return self.w.tenants[slug]

    async def get(self, tenant_id: uuid.UUID) -> TenantInfo:
        for t in self.w.tenants.values():
            if t.id == tenant_id:
                return t
        raise NotFound("tenant", tenant_id)

    async def tenant_id(self, slug: str) -> uuid.UUID | None:
        t = self.w.tenants.get(slug)
        return None if t is None else t.id

    async def create(self, slug: str, name: str, actor: Actor, **kw: Any) -> TenantInfo:
        if slug in self.w.tenants:
            raise Conflict("uq_tenants_slug")
        self.w.changes.append(("tenant.create", slug))
        t = self.w.tenant(slug)
        return replace(t, name=name, language=kw.get("language") or "fi")

    async def update(self, tenant_id: uuid.UUID, actor: Actor, changes: dict[str, Any]) -> Any:
        t = await self.get(tenant_id)
        self.w.changes.append(("tenant.update", t.slug))
        self.w.tenants[t.slug] = replace(t, **changes)
        return self.w.tenants[t.slug]

    async def page(self, *, after: str | None = None, limit: int = 50) -> Page[TenantInfo]:
        return page(list(self.w.tenants.values()), lambda t: t.slug, after, limit)

    async def add_number(
        self, tenant_id: uuid.UUID, number: str, service: str, actor: Actor, *, description: str
    ) -> ServiceNumberInfo:
        if number in self.w.numbers:
            raise Conflict("uq_service_numbers_number")
        self.w.changes.append(("number.add", number))
        n = ServiceNumberInfo(uuid.uuid4(), tenant_id, number, service, description)
        self.w.numbers[number] = n
        return n

    async def by_number(self, number: str) -> ServiceNumberInfo:
        if number not in self.w.numbers:
            raise NotFound("service number", number)
        return self.w.numbers[number]

    async def remove_number(self, number: str, actor: Actor) -> ServiceNumberInfo:
        n = await self.by_number(number)
        self.w.changes.append(("number.remove", number))
        del self.w.numbers[number]
        return n

    async def number_page(
        self, *, tenant_id: uuid.UUID | None = None, after: str | None = None, limit: int = 50
    ) -> Page[ServiceNumberInfo]:
        rows = [n for n in self.w.numbers.values() if tenant_id in (None, n.tenant_id)]
        return page(rows, lambda n: n.number, after, limit)


class FakeUsers:
    def __init__(self, world: World) -> None:
        self.w = world

    async def authenticate(self, login: str, password: str) -> UserInfo | None:
        u = self.w.users.get(login)
        if u is None or not u.active or self.w.passwords.get(login) != password:
            return None
        return u

    async def by_login(self, login: str) -> UserInfo:
        if login not in self.w.users:
            raise NotFound("user", login)
        return self.w.users[login]

    async def create(self, *, tenant_id: Any, name: str, login: str, password: str,
                     role: Any, actor: Actor, **kw: Any) -> UserInfo:  # fmt: skip
        if login in self.w.users:
            raise Conflict("uq_users_login")
        self.w.changes.append(("user.create", login))
        tenant = None
        for t in self.w.tenants.values():
            if t.id == tenant_id:
                tenant = t
        return self.w.user(login, Role(role), tenant, password)

    def _set(self, user_id: uuid.UUID, action: str, **values: Any) -> UserInfo:
        for login, u in self.w.users.items():
            if u.id == user_id:
                self.w.changes.append((action, login))
                self.w.users[login] = replace(u, **values)
                return self.w.users[login]
        raise NotFound("user", user_id)

    async def update(self, user_id: uuid.UUID, actor: Actor, changes: dict[str, Any]) -> Any:
        if "role" in changes:
            changes = changes | {"role": Role(changes["role"])}
        return self._set(user_id, "user.update", **changes)

    async def set_password(self, user_id: uuid.UUID, password: str, actor: Actor) -> UserInfo:
        user = self._set(user_id, "user.password")
        self.w.passwords[user.login] = password
        return user

    async def set_phone_login(self, user_id: uuid.UUID, phone_login: str | None,
                              pin: str | None, actor: Actor) -> UserInfo:  # fmt: skip
        return self._set(user_id, "user.phone_login", phone_login=phone_login,
                         has_phone_pin=pin is not None)  # fmt: skip

    async def disable(self, user_id: uuid.UUID, actor: Actor) -> UserInfo:
        return self._set(user_id, "user.disable", disabled_at=NOW)

    async def enable(self, user_id: uuid.UUID, actor: Actor) -> UserInfo:
        return self._set(user_id, "user.enable", disabled_at=None)

    async def page(self, *, tenant_id: Any = None, after: str | None = None,
                   limit: int = 50) -> Page[UserInfo]:  # fmt: skip
        rows = [u for u in self.w.users.values() if tenant_id in (None, u.tenant_id)]
        return page(rows, lambda u: u.login, after, limit)


PASSWORD = "a-long-password"


def populated_world() -> World:
    """Tenants acme and other; users: ops (operator), acme-admin, acme-team, acme-ext,
    other-admin; each with the password PASSWORD. Numbers 300 (acme) and 400 (other)."""
    w = World()
    acme, other = w.tenant("acme"), w.tenant("other")
    w.user("ops", Role.OPERATOR, None, PASSWORD)
    w.user("acme-admin", Role.ADMIN, acme, PASSWORD)
    w.user("acme-team", Role.TEAM, acme, PASSWORD)
    w.user("acme-ext", Role.EXTERNAL, acme, PASSWORD)
    w.user("other-admin", Role.ADMIN, other, PASSWORD)
    w.numbers["300"] = ServiceNumberInfo(uuid.uuid4(), acme.id, "300", "callcenter", "")
    w.numbers["400"] = ServiceNumberInfo(uuid.uuid4(), other.id, "400", "bulletin", "")
    return w


def management_app(world: World, dialplan_dir: Path) -> web.Application:
    tenants, users = FakeTenants(world), FakeUsers(world)
    admin = Management(tenants, users, dialplan_dir=dialplan_dir)  # type: ignore[arg-type]
    app = new_app()
    add_routes(app, admin, Guard(users, tenants, audit=FakeAudit()))
    return app
