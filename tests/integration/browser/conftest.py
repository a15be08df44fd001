"""Browser fixtures for the console's tests: Playwright's sync API driving Debian's
``/usr/bin/chromium`` (installed by ``linja stack up``; nothing is downloaded), against a real
``linja serve`` on the worker's stack, with the demo tenant seeded.

- ``console`` (one controller for the package's tests that run in a row):
  ``console.url(path)``, ``console.user(role)`` (a fresh user of the demo tenant, or of
  ``tenant=``; password :data:`PASSWORD`),
  ``console.tenant()`` (a fresh tenant's slug), ``console.fetch(sql, ...)`` (rows from the
  database, as the superuser);
- ``page_as(login)`` (per test): a new browser context at 1366x768 whose session is logged
  in through ``POST /api/login``; ``page_as(None)`` is a context logged in as nobody;
- ``shot(page, name)``: saves the page at 1366x768 and at 390x844 (a phone) as PNGs under
  ``.run/artifacts/console/`` (git-ignored), named after the test.

Tests are plain ``def`` functions (the sync API runs its own loop); database checks go
through ``console.fetch`` (or :func:`run_async`).
"""

from __future__ import annotations

import asyncio
import re
import secrets
from collections.abc import Callable, Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect, sync_playwright

from ivr.config import Settings, project_root
from storage.db import connect, make_engine, session_factory
from storage.domain import Actor
from storage.errors import NotFound
from storage.events import Role
from storage.passwords import Hasher
from storage.repositories.tenants import TenantRepository
from storage.repositories.users import UserRepository
from tests.support import Controller

pytestmark = pytest.mark.integration

CHROMIUM = Path("/usr/bin/chromium")
DESKTOP = {"width": 1366, "height": 768}
PHONE = {"width": 390, "height": 844}
PASSWORD = "console-test-password-1"
ARTIFACTS = project_root() / ".run" / "artifacts" / "console"
TENANT = "demo"
# A loaded 2-core machine: argon2 for a login can take seconds.
expect.set_options(timeout=15_000)


T = TypeVar("T")


def run_async(work: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Run ``work()`` to its end on a loop of its own thread (Playwright's sync API keeps a
    loop running on the test's thread, where ``asyncio.run`` is refused)."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(lambda: asyncio.run(work())).result()


@dataclass
class Console:
    settings: Settings
    controller: Controller

    def url(self, path: str = "/") -> str:
        return self.controller.url(path)

    def fetch(self, sql: str, *args: Any) -> list[dict[str, Any]]:
        async def run() -> list[dict[str, Any]]:
            conn = await connect(self.settings, "super")
            try:
                return [dict(r) for r in await conn.fetch(sql, *args)]
            finally:
                await conn.close()

        return run_async(run)

    def tenant(self, language: str = "fi") -> str:
        """A fresh tenant (its slug), for tests that change a tenant's settings."""
        slug = f"console-{secrets.token_hex(4)}"

        async def run() -> None:
            engine = make_engine(self.settings, owner=True, pool_size=1)
            try:
                repo = TenantRepository(session_factory(engine))
                await repo.create(slug, f"Testi {slug}", Actor.system("browser-tests"),
                                  language=language)  # fmt: skip
            finally:
                await engine.dispose()

        run_async(run)
        return slug

    def user(
        self,
        role: Role,
        tenant: str | None = TENANT,
        *,
        login: str | None = None,
        name: str | None = None,
    ) -> str:
        """A fresh user (``login`` given: that user, its password reset) of ``tenant``."""
        login = login or f"{role.value}-{secrets.token_hex(4)}"

        async def run() -> None:
            engine = make_engine(self.settings, owner=True, pool_size=1)
            try:
                sessions = session_factory(engine)
                # cheap argon2 parameters: logging in stays the real path, only faster
                users = UserRepository(sessions, Hasher.fast_for_tests())
                tenant_id = (
                    None
                    if tenant is None
                    else (await TenantRepository(sessions).by_slug(tenant)).id
                )
                actor = Actor.system("browser-tests")
                try:
                    user = await users.by_login(login)
                except NotFound:
                    await users.create(
                        tenant_id=tenant_id, name=name or f"Testi {login}", login=login,
                        password=PASSWORD, role=role, actor=actor,
                    )  # fmt: skip
                    return
                await users.set_password(user.id, PASSWORD, actor)  # a demo agent, say
            finally:
                await engine.dispose()

        run_async(run)
        return login


# Package scope: one controller and one browser for the browser tests that run one after
# another on a worker; pytest stops them before the worker goes on to any other test file
# (whose controllers need the worker's HTTP port).
@pytest.fixture(scope="package")
def console(stack: Settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Console]:
    log_path = tmp_path_factory.mktemp("console") / "controller.log"
    ctl = Controller(stack, log_path)
    ctl.start()
    try:
        yield Console(stack, ctl)
    finally:
        ctl.stop()


@pytest.fixture(scope="package")
def browser() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: `linja stack up` installs Debian's chromium")
    with sync_playwright() as pw:
        launched = pw.chromium.launch(
            executable_path=str(CHROMIUM), args=["--no-sandbox"], headless=True
        )
        try:
            yield launched
        finally:
            launched.close()


PageAs = Callable[[str | None], Page]


@pytest.fixture
def page_as(browser: Browser, console: Console) -> Iterator[PageAs]:
    contexts: list[BrowserContext] = []

    def open_as(login: str | None) -> Page:
        context = browser.new_context(viewport=DESKTOP, base_url=console.url(""))
        context.set_default_timeout(15_000)
        contexts.append(context)
        if login is not None:
            reply = context.request.post("/api/login", data={"login": login, "password": PASSWORD})
            assert reply.status == 200, reply.text()
        return context.new_page()

    yield open_as
    for context in contexts:
        context.close()


Shot = Callable[[Page, str], list[Path]]


@pytest.fixture
def shot(request: pytest.FixtureRequest) -> Shot:
    test = re.sub(r"[^A-Za-z0-9_.-]+", "-", request.node.name)[:80]

    def save(page: Page, name: str) -> list[Path]:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        saved = []
        for size in (DESKTOP, PHONE):
            page.set_viewport_size(size)
            path = ARTIFACTS / f"{test}-{name}-{size['width']}x{size['height']}.png"
            page.screenshot(path=str(path), full_page=True)
            saved.append(path)
        page.set_viewport_size(DESKTOP)
        return saved

    return save
