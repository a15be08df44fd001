"""The demo tenant that `make run` and the tests use: tenant `demo`, bulletin number 100
with one active Finnish bulletin."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from ivr.config import Settings
from storage.db import make_engine, session_factory
from storage.repositories.bulletins import BulletinRepository, TenantRepository

log = logging.getLogger(__name__)

DEMO_TENANT = "demo"
DEMO_NUMBER = "100"
DEMO_TEXT = (
    "Hei, tämä on Linjan häiriötiedote. Keravan keskustassa on sähkökatko. "
    "Korjaamme vikaa, ja arvioimme sähköjen palaavan kello kahdeksaantoista mennessä."
)


async def seed_demo(settings: Settings) -> None:
    engine = make_engine(settings, owner=True, pool_size=1)
    try:
        sessions = session_factory(engine)
        tenants = TenantRepository(sessions)
        tenant_id = await tenants.ensure(DEMO_TENANT, "Demo Energia Oy", "fi")
        await tenants.ensure_number(tenant_id, DEMO_NUMBER, "bulletin")
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
