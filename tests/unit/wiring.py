"""The controller's features wired for unit tests: a :class:`~ivr.core.Core` made of fakes
(fake ARI, an in-memory case sink, a stepping clock, given flow definitions and directory)
and the real ``wire`` of every feature in ``FEATURES``, as ``linja serve`` does it.

The core's database engine points at a port where nothing listens: the flows under test
never reach Postgres, and a feature that tries at wiring time sees it down.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

from ivr.app import FEATURES, load_feature, wire_features
from ivr.config import Settings
from ivr.core import Core, Feature, assemble_core
from ivr.flowdefs.model import Queue, TenantFlows
from ivr.prompts import PromptRenderer
from storage.db import make_engine, session_factory
from storage.passwords import Hasher
from storage.repositories.users import UserRepository
from tests.support import closed_tcp_port


def unit_settings(tmp_path: Path, **changes: Any) -> Settings:
    values: dict[str, Any] = {
        "state_dir": tmp_path / "state",
        "asterisk_root": tmp_path / "root",
        "audio_dir": tmp_path / "store",
        "pg_port": closed_tcp_port(),
        "ari_port": closed_tcp_port(),
        "ari_password": "unit",
        "db_app_password": "unit",
        "db_owner_password": "unit",
        "intake_secret": "unit",
        "recording_end_grace": 0.5,
        **changes,
    }
    settings = Settings(_env_file=None, **values)  # type: ignore[call-arg]
    settings.in_root(settings.recordings_inner).mkdir(parents=True, exist_ok=True)
    return settings


class Definitions:
    """Live flow definitions holding one tenant's flows."""

    def __init__(self, flows: TenantFlows) -> None:
        self.flows = flows
        self._listeners: list[Callable[[dict[str, TenantFlows]], None]] = []

    def get(self, tenant: str) -> TenantFlows | None:
        return self.flows if tenant == self.flows.tenant else None

    def on_change(self, listener: Callable[[dict[str, TenantFlows]], None]) -> None:
        self._listeners.append(listener)

    def queues(self) -> dict[str, Queue]:
        return {f"{self.flows.tenant}/{q}": queue for q, queue in self.flows.queues.items()}

    def agents(self) -> set[str]:
        return set()

    async def watch(self) -> None:
        return None


class Directory:
    """One tenant (``slug`` → ``tenant_id``) and no agent users."""

    def __init__(self, slug: str, tenant_id: uuid.UUID) -> None:
        self.slug, self.id = slug, tenant_id

    async def tenant_id(self, slug: str) -> uuid.UUID | None:
        return self.id if slug == self.slug else None

    async def user_id(self, login: str) -> uuid.UUID | None:
        return None

    async def agent_tenant(self, login: str) -> uuid.UUID | None:
        return None


def unit_core(
    settings: Settings,
    *,
    ari: Any,
    clock: Any,
    cases: Any,
    prompts: PromptRenderer,
    definitions: Any,
    directory: Any = None,
    restrictions: Any = None,
) -> Core:
    """A core of the given fakes (untyped: fakes stand in for the real classes); the
    directory and restrictions default to the real repositories on the unit engine."""
    engine = make_engine(settings, pool_size=2)
    return assemble_core(
        settings,
        clock=clock,
        engine=engine,
        ari=ari,
        cases=cases,
        prompts=prompts,
        definitions=definitions,
        users=UserRepository(session_factory(engine), Hasher.fast_for_tests()),
        directory=directory,
        restrictions=restrictions,
    )


async def wire_all(core: Core, stack: AsyncExitStack) -> list[Feature]:
    """Every feature of ``linja serve``, wired onto ``core`` (its flows in ``core.router``)."""
    stack.push_async_callback(core.engine.dispose)
    return await wire_features(core, stack, [load_feature(name) for name in FEATURES])
