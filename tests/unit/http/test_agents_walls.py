"""`/api/agents` keeps to the tenant (issue 13, item 1): the list holds the principal's
tenant's agents only, `external` users are refused, an admin changes only agents of their
own tenant (an operator any, naming the tenant), a team user only themselves."""

from __future__ import annotations

import base64
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from ivr.callcenter.coordinator import QueueCoordinator
from ivr.callcenter.engine import QueueEngine
from ivr.flowdefs.model import Queue
from ivr.http.agents import add_routes
from ivr.http.edge import new_app
from ivr.http.guard import Guard
from storage.domain import Actor, UserInfo
from storage.events import Role
from tests.unit.flows.support_recording import Clock

A, B = uuid.UUID(int=1), uuid.UUID(int=2)
TENANTS = {"a": A, "b": B}


def _user(login: str, role: Role, tenant: uuid.UUID | None) -> UserInfo:
    return UserInfo(
        id=uuid.uuid5(uuid.NAMESPACE_DNS, login), tenant_id=tenant, name=login, login=login,
        email=None, role=role, phone_number=None, phone_login=None, has_phone_pin=False,
        created_at=datetime(2026, 1, 1, tzinfo=UTC), disabled_at=None,
    )  # fmt: skip


USERS = {
    u.login: u
    for u in (
        _user("agent-a1", Role.TEAM, A),
        _user("agent-a2", Role.TEAM, A),
        _user("agent-b1", Role.TEAM, B),
        _user("admin-a", Role.ADMIN, A),
        _user("ext-a", Role.EXTERNAL, A),
        _user("root", Role.OPERATOR, None),
    )
}


class Users:
    async def authenticate(self, login: str, password: str) -> UserInfo | None:
        return USERS.get(login) if password == "pw" else None


class Directory:
    async def tenant_id(self, slug: str) -> uuid.UUID | None:
        return TENANTS.get(slug)

    async def agent_tenant(self, login: str) -> uuid.UUID | None:
        user = USERS.get(login)
        return None if user is None else user.tenant_id


class Audit:
    def __init__(self) -> None:
        self.entries: list[tuple[str, str]] = []

    async def append(self, action: str, actor: Actor, **kw: Any) -> None:
        self.entries.append((action, actor.label))


def basic(login: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{login}:pw".encode()).decode()}


@dataclass
class World:
    client: TestClient[web.Request, web.Application]
    coordinator: QueueCoordinator
    audit: Audit

    async def listed(self, login: str, query: str = "") -> tuple[int, set[str]]:
        reply = await self.client.get(f"/api/agents{query}", headers=basic(login))
        if reply.status != 200:
            return reply.status, set()
        return 200, {a["agent_id"] for a in await reply.json()}

    async def change(self, login: str, agent: str, query: str = "") -> int:
        reply = await self.client.post(f"/api/agents/{agent}/login{query}", headers=basic(login))
        return reply.status


@pytest.fixture
async def world() -> AsyncIterator[World]:
    queues = {
        "a/support": Queue("support", ("agent-a1", "agent-a2")),
        "b/sales": Queue("sales", ("agent-b1",)),
    }
    coordinator = QueueCoordinator(QueueEngine(queues), Clock())
    for agent in ("agent-a1", "agent-b1"):
        coordinator.login(agent)
    audit = Audit()
    app = new_app()
    known = {"agent-a1", "agent-a2", "agent-b1"}
    add_routes(app, coordinator, Guard(Users(), Directory(), audit=audit), lambda: known,
               Directory())  # fmt: skip
    async with TestClient(TestServer(app, host="127.0.0.1")) as client:
        yield World(client, coordinator, audit)


async def test_agents_list_shows_only_the_principals_tenant(world: World) -> None:
    assert await world.listed("agent-a2") == (200, {"agent-a1"})
    assert await world.listed("admin-a") == (200, {"agent-a1"})
    assert await world.listed("agent-b1") == (200, {"agent-b1"})
    assert await world.listed("root", "?tenant=b") == (200, {"agent-b1"})
    assert (await world.listed("root"))[0] == 400  # an operator names the tenant
    assert (await world.listed("admin-a", "?tenant=b"))[0] == 403


async def test_agents_external_users_are_refused(world: World) -> None:
    assert (await world.listed("ext-a"))[0] == 403
    assert await world.change("ext-a", "agent-a2") == 403
    assert ("access.refused", "user:ext-a") in world.audit.entries


async def test_agents_admin_changes_only_agents_of_their_own_tenant(world: World) -> None:
    assert await world.change("admin-a", "agent-b1") == 403
    assert world.coordinator.engine.board.state("agent-b1").value == "available"
    assert await world.change("admin-a", "agent-a2") == 200
    assert world.coordinator.engine.board.state("agent-a2").value == "available"
    assert await world.change("root", "agent-b1", "?tenant=a") == 403  # named A, agent of B
    assert await world.change("root", "agent-a1", "?tenant=a") == 200
    assert await world.change("admin-a", "nobody") == 404
    assert world.audit.entries == [("access.refused", "user:admin-a"),
                                   ("access.refused", "user:root")]  # fmt: skip


async def test_agents_team_user_changes_only_themselves(world: World) -> None:
    assert await world.change("agent-a1", "agent-a2") == 403
    assert await world.change("agent-a2", "agent-a2") == 200


async def test_agents_a_pause_reason_is_at_most_100_printable_characters(world: World) -> None:
    """The console's pause form shows a bad reason beside its field: the API names it in the
    problem's ``errors`` and the agent stays as they were."""
    for reason in ("x" * 101, "tauko\x07"):
        reply = await world.client.post(
            "/api/agents/agent-a1/pause", params={"reason": reason}, headers=basic("agent-a1")
        )
        assert reply.status == 400, reason
        assert "reason" in (await reply.json())["errors"]
        assert world.coordinator.engine.board.state("agent-a1").value == "available"
    ok = await world.client.post(
        "/api/agents/agent-a1/pause", params={"reason": "lounas"}, headers=basic("agent-a1")
    )
    assert ok.status == 200 and (await ok.json())["pause_reason"] == "lounas"
