"""The demo tenant that `make run` and the tests use: tenant `demo`, bulletin number 100
with one active Finnish bulletin, the agents' users and a demo admin (login ``admin``) whose
generated password is told once, when it is created (only its argon2 hash is stored)."""

from __future__ import annotations

import logging
import secrets
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from ivr.config import Settings
from storage.db import make_engine, session_factory
from storage.domain import Actor
from storage.errors import NotFound
from storage.events import Role
from storage.repositories.bulletins import BulletinRepository
from storage.repositories.tenants import TenantRepository
from storage.repositories.users import UserRepository

log = logging.getLogger(__name__)

DEMO_TENANT = "demo"
DEMO_NUMBER = "100"
DEMO_TEXT = (
    "Hei, tämä on Linjan häiriötiedote. Keravan keskustassa on sähkökatko. "
    "Korjaamme vikaa, ja arvioimme sähköjen palaavan kello kahdeksaantoista mennessä."
)


DEMO_AGENTS = ("agent1", "agent2", "agent3")
DEMO_ADMIN = "admin"


@dataclass(frozen=True)
class DemoAdmin:
    """The demo admin's login; ``password`` only on the run that created it."""

    login: str
    password: str | None

    def message(self) -> str:
        if self.password is not None:
            return (
                f"demo admin created: login {self.login}, password {self.password}\n"
                "  (shown only now: it is stored as a hash; "
                f"a new one: linja user passwd {self.login})"
            )
        return (
            f"demo admin {self.login} exists; forgot its password? linja user passwd {self.login}"
        )


async def _ensure_admin(
    sessions: async_sessionmaker[AsyncSession], tenant_id: uuid.UUID
) -> DemoAdmin:
    users = UserRepository(sessions)
    try:
        await users.by_login(DEMO_ADMIN)
        return DemoAdmin(DEMO_ADMIN, None)
    except NotFound:
        pass
    password = secrets.token_urlsafe(15)
    await users.create(
        tenant_id=tenant_id,
        name="Demo admin",
        login=DEMO_ADMIN,
        password=password,
        role=Role.ADMIN,
        actor=Actor.system("demo-seed"),
    )
    log.info("demo admin user %s created", DEMO_ADMIN)
    return DemoAdmin(DEMO_ADMIN, password)


async def _ensure_agents(sessions: async_sessionmaker[AsyncSession], tenant_id: uuid.UUID) -> None:
    """Users behind the demo queues' agent logins (team role). Their console passwords are
    random; an admin sets real ones."""
    users = UserRepository(sessions)
    for login in DEMO_AGENTS:
        try:
            await users.by_login(login)
        except NotFound:
            await users.create(
                tenant_id=tenant_id,
                name=f"Demo {login}",
                login=login,
                password=secrets.token_urlsafe(18),
                role=Role.TEAM,
                actor=Actor.system("demo-seed"),
            )
            log.info("demo agent user %s created", login)


async def seed_demo(settings: Settings) -> DemoAdmin:
    engine = make_engine(settings, owner=True, pool_size=1)
    try:
        sessions = session_factory(engine)
        tenants = TenantRepository(sessions)
        tenant_id = await tenants.ensure(DEMO_TENANT, "Demo Energia Oy", "fi")
        await tenants.ensure_number(tenant_id, DEMO_NUMBER, "bulletin")
        await _ensure_agents(sessions, tenant_id)
        admin = await _ensure_admin(sessions, tenant_id)
        repo = BulletinRepository(sessions)
        now = datetime.now(UTC)
        if not await repo.active(now):
            await repo.add(
                number=DEMO_NUMBER,
                language="fi",
                text_=DEMO_TEXT,
                audio=None,
                starts_at=now,
                ends_at=None,
            )
            log.info("demo bulletin added on %s", DEMO_NUMBER)
        return admin
    finally:
        await engine.dispose()
