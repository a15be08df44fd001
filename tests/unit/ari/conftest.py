from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from ivr.ari.client import AriClient
from tests.unit.ari.sim_ari import PASSWORD, USER, SimAri


@pytest.fixture
async def sim() -> AsyncIterator[SimAri]:
    server = SimAri()
    await server.start()
    try:
        yield server
    finally:
        await server.close()


@pytest.fixture
async def client(sim: SimAri) -> AsyncIterator[AriClient]:
    async with AriClient(sim.base_url, USER, PASSWORD, request_timeout=2.0) as ari:
        yield ari
