"""Issue 14, the wallboard page in a real Chromium: a SIPp caller on the demo number 200 shows
as waiting within 2 s, then as talking with the SIPp agent who answers; the full-screen mode
has no nav; another tenant's admin and an external user get the 403 page (and 403 on the
stream). Screenshots at 1366x768 and phone width."""

from __future__ import annotations

import json
import time
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from playwright.sync_api import expect

from ivr.config import Settings
from storage.db import short_lived_sessions
from storage.events import Role
from storage.repositories.tenants import TenantRepository
from tests.integration.browser.conftest import PASSWORD, Console, PageAs, Shot, run_async
from tests.integration.test_wallboard import _close_callbacks
from tests.support import AgentPhone, Controller, basic_auth, read_stamp, run_sipp

pytestmark = pytest.mark.integration

MENU = "200"
OTHER = "wallboard-other"


@pytest.fixture(scope="module")
def console(stack: Settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Console]:
    """The console's controller, started once callback requests other tests left are closed
    (they would be offered to this test's agent)."""
    run_async(lambda: _close_callbacks(stack))
    ctl = Controller(stack, tmp_path_factory.mktemp("wallboard-page") / "controller.log")
    ctl.start()
    try:
        yield Console(stack, ctl)
    finally:
        ctl.stop()


def agent(console: Console, admin: str, login: str, action: str) -> str:
    req = urllib.request.Request(
        console.url(f"/api/agents/{login}/{action}"),
        method="POST",
        headers=basic_auth(admin, PASSWORD),
    )
    with urllib.request.urlopen(req, timeout=15) as resp:
        return str(json.loads(resp.read())["state"])


def other_tenant(settings: Settings) -> None:
    async def make() -> None:
        async with short_lived_sessions(settings, owner=True) as sessions:
            await TenantRepository(sessions).ensure(OTHER, "Toinen Oy", "fi")

    run_async(make)


def test_wallboard_page_shows_a_caller_waiting_then_talking_and_refuses_others(
    console: Console, page_as: PageAs, shot: Shot, tmp_path: Path
) -> None:
    admin = console.user(Role.ADMIN)
    for login in ("agent1", "agent2", "agent3"):
        agent(console, admin, login, "logout")
    phone = AgentPhone(console.settings, "agent3", "agent-answers.xml", tmp_path, talk_ms=1500)
    try:
        agent(console, admin, "agent3", "login")
        agent(console, admin, "agent3", "pause")
        page = page_as(admin)
        page.goto("/wallboard")
        expect(page.locator("#wallboard[data-seq]")).to_have_count(1)  # the snapshot came
        callers = page.locator('[data-queue="support"] [data-field="callers"] li[data-call]')
        expect(callers).to_have_count(0)
        with ThreadPoolExecutor(1) as pool:
            caller = pool.submit(
                run_sipp, "caller-picks-2.xml", tmp_path / "caller", service=MENU,
                settings=console.settings, timeout=45,
            )  # fmt: skip
            expect(callers).to_have_count(1)
            shown = time.time()
            waited = shown - read_stamp(tmp_path / "caller", "dtmf")
            assert waited <= 2.0, f"the waiting caller showed {waited:.2f}s after the key"
            expect(page.locator('[data-queue="support"] [data-field="waiting"]')).to_have_text("1")
            call = callers.first.get_attribute("data-call")
            shot(page, "waiting")
            agent(console, admin, "agent3", "unpause")
            row = page.locator('tr[data-agent="agent3"]')
            expect(row).to_have_attribute("data-state", "talking")
            late = time.time() - read_stamp(phone.workdir, "answered")
            assert late <= 2.0, f"talking showed {late:.2f}s after the answer"
            expect(callers).to_have_count(0)
            assert call is not None
            shot(page, "talking")
            code, out = phone.wait(30)
            assert code == 0, out
            agent(console, admin, "agent3", "logout")
            result = caller.result(timeout=60)
            assert result.returncode == 0, result.output + result.errors
        expect(row).to_have_attribute("data-state", "logged_out")
    finally:
        phone.close()

    page.goto("/wallboard?wall=1")
    expect(page.locator("#wallboard[data-seq]")).to_have_count(1)
    expect(page.locator("header.top")).to_be_hidden()  # no nav on the wall
    shot(page, "wall")

    other_tenant(console.settings)
    for who in (console.user(Role.ADMIN, OTHER), console.user(Role.EXTERNAL)):
        refused = page_as(who)
        reply = refused.goto("/wallboard?tenant=demo")
        assert reply is not None and reply.status == 403, who
        stream = refused.request.get("/api/tenants/demo/wallboard/events")
        assert stream.status == 403, (who, stream.status)
    shot(refused, "refused")
