"""The demo tenant that `make run` and the tests use: tenant `demo`, bulletin number 100
with one active Finnish bulletin."""

from __future__ import annotations

import logging
import secrets
import uuid
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


async def seed_demo(settings: Settings) -> None:
    engine = make_engine(settings, owner=True, pool_size=1)
    try:
        sessions = session_factory(engine)
        tenants = TenantRepository(sessions)
        tenant_id = await tenants.ensure(DEMO_TENANT, "Demo Energia Oy", "fi")
        await tenants.ensure_number(tenant_id, DEMO_NUMBER, "bulletin")
        await _ensure_agents(sessions, tenant_id)
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
    finally:
        await engine.dispose()
