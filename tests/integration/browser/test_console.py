"""The console's foundation in a real Chromium: logging in by keyboard alone, a bad login
shown beside the field, logout ending the session (its old cookie refused), the language
switch, and HTML error pages for page URLs."""

from __future__ import annotations

import re
import urllib.error
import urllib.request

import pytest
from playwright.sync_api import Page, expect

from storage.events import Role
from tests.integration.browser.conftest import PASSWORD, Console, PageAs, Shot

pytestmark = pytest.mark.integration


def tab_to(page: Page, selector: str, limit: int = 30) -> None:
    """Press Tab until ``selector`` has the focus (fails after ``limit`` presses)."""
    target = page.locator(selector)
    for _ in range(limit):
        if target.evaluate("el => el === document.activeElement"):
            return
        page.keyboard.press("Tab")
    raise AssertionError(f"{selector} never got the focus by Tab")


def test_log_in_by_keyboard_alone(console: Console, page_as: PageAs, shot: Shot) -> None:
    login = console.user(Role.ADMIN)
    page = page_as(None)
    page.goto("/")
    expect(page).to_have_url(re.compile(r"/login\?next=/$"))
    shot(page, "login")
    page.locator("body").focus()
    page.evaluate("document.activeElement.blur()")
    tab_to(page, "#f-login-login")
    page.keyboard.type(login)
    page.keyboard.press("Tab")
    page.keyboard.type(PASSWORD)
    page.keyboard.press("Enter")
    expect(page).to_have_url(console.url("/"))
    expect(page.locator("h1")).to_have_text(re.compile("Linja"))
    expect(page.locator(".who")).to_contain_text("Testi")
    shot(page, "home")
    # the skip link is the first stop and moves the focus to the content
    page.evaluate("document.activeElement.blur()")
    page.keyboard.press("Tab")
    expect(page.locator("a.skip")).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.locator("#main")).to_be_focused()


def test_a_bad_login_shows_the_error_beside_the_field_and_logs_nobody_in(
    console: Console, page_as: PageAs, shot: Shot
) -> None:
    page = page_as(None)
    page.goto("/login")
    page.locator("#f-login-password").fill("something")
    page.locator("#f-login-password").press("Enter")
    expect(page.locator("#e-login-login")).not_to_be_empty()
    expect(page.locator("#f-login-login")).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#f-login-login")).to_be_focused()
    shot(page, "field-error")
    page.locator("#f-login-login").fill("nobody-such")
    page.locator("#f-login-password").press("Enter")
    expect(page.locator("[data-form-errors]")).to_contain_text("Väärä käyttäjätunnus tai salasana")
    expect(page.locator("#e-login-login")).to_be_empty()
    assert not [c for c in page.context.cookies() if c["name"] == "linja_session"]
    expect(page).to_have_url(re.compile(r"/login$"))


def test_logout_ends_the_session_and_its_old_cookie_is_refused(
    console: Console, page_as: PageAs
) -> None:
    login = console.user(Role.TEAM)
    page = page_as(login)
    page.goto("/")
    (cookie,) = [c for c in page.context.cookies() if c["name"] == "linja_session"]
    page.get_by_role("button", name=re.compile("Kirjaudu ulos|Log out")).click()
    expect(page).to_have_url(re.compile(r"/login$"))
    assert not [c for c in page.context.cookies() if c["name"] == "linja_session"]
    old = urllib.request.Request(
        console.url("/api/session"), headers={"Cookie": f"linja_session={cookie['value']}"}
    )
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(old, timeout=5)
    assert refused.value.code == 401
    ended = console.fetch(
        "SELECT s.ended_at FROM web_sessions s JOIN users u ON u.id = s.user_id WHERE u.login = $1",
        login,
    )
    assert len(ended) == 1 and ended[0]["ended_at"] is not None
    page.goto("/")  # the page is no longer served to this browser
    expect(page).to_have_url(re.compile(r"/login\?next=/$"))


def test_the_language_switch_and_html_error_pages(
    console: Console, page_as: PageAs, shot: Shot
) -> None:
    page = page_as(console.user(Role.TEAM))
    page.goto("/")
    expect(page.locator("html")).to_have_attribute("lang", "fi")  # the demo tenant's language
    page.get_by_role("link", name="EN", exact=True).click()
    expect(page.locator("html")).to_have_attribute("lang", "en")
    expect(page.get_by_role("button", name="Log out")).to_be_visible()
    reply = page.goto("/no/such/page")
    assert reply is not None and reply.status == 404
    expect(page.locator("h1")).to_have_text("Page not found")
    shot(page, "404")
