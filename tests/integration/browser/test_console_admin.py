"""The console's admin-side pages in a real Chromium, each with a success and a refusal:
tenants and retention, numbers, users and roles, people's data, the audit log and agents.
Bad input on every form is shown beside its field and changes nothing in the database."""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from storage.events import Role
from tests.integration.browser.conftest import Console, PageAs, Shot

pytestmark = pytest.mark.integration

ADMIN_PAGES = ("/admin/tenants", "/admin/numbers", "/admin/users", "/people", "/audit")


def tenant_row(console: Console, slug: str) -> dict[str, Any]:
    (row,) = console.fetch(
        "SELECT name, language, recording_retention, case_retention FROM tenants WHERE slug = $1",
        slug,
    )
    return row


def refusals(console: Console, login: str) -> list[str]:
    return [
        r["route"]
        for r in console.fetch(
            "SELECT details->>'route' AS route FROM audit_log WHERE action = 'access.refused' "
            "AND actor = $1 ORDER BY id",
            f"user:{login}",
        )
    ]


def test_a_team_user_sees_no_admin_pages_and_gets_403_pages_on_their_urls(
    console: Console, page_as: PageAs, shot: Shot
) -> None:
    login = console.user(Role.TEAM)
    page = page_as(login)
    page.goto("/")
    nav = page.get_by_role("navigation", name="Päävalikko")
    hrefs = nav.get_by_role("link").evaluate_all("links => links.map(a => a.pathname)")
    assert "/agents" in hrefs and "/" in hrefs
    assert not [h for h in hrefs if h in ADMIN_PAGES], hrefs
    for path in ADMIN_PAGES:
        reply = page.goto(path)
        assert reply is not None and reply.status == 403, path
        assert reply.headers["content-type"].startswith("text/html"), path
        expect(page.locator("h1")).to_have_text("Ei käyttöoikeutta")
    shot(page, "403")
    assert refusals(console, login) == list(ADMIN_PAGES)
    admin = page_as(console.user(Role.ADMIN))
    admin.goto("/")
    admin_nav = admin.get_by_role("navigation", name="Päävalikko").get_by_role("link")
    shown = admin_nav.evaluate_all("links => links.map(a => a.pathname)")
    assert set(ADMIN_PAGES) <= set(shown), shown


def submit(page: Page, form: str) -> None:
    page.locator(f"#{form} button[type=submit]").first.click()


def submit_and_reload(page: Page, form: str) -> None:
    """Submit a form that succeeds, and wait for the page to reload with the change."""
    with page.expect_navigation():
        submit(page, form)


def test_an_admin_sets_retention_and_a_bad_duration_changes_nothing(
    console: Console, page_as: PageAs, shot: Shot
) -> None:
    slug = console.tenant()
    page = page_as(console.user(Role.ADMIN, tenant=slug))
    page.goto("/admin/tenants")
    page.get_by_role("link", name=slug).click()
    expect(page).to_have_url(console.url(f"/admin/tenants/{slug}"))
    before = tenant_row(console, slug)
    page.locator("#f-tenant-time_zone").fill("Mars/Olympus")
    page.locator("#f-tenant-name").fill("")
    submit(page, "tenant")
    expect(page.locator("#e-tenant-time_zone")).not_to_be_empty()
    expect(page.locator("#e-tenant-name")).not_to_be_empty()
    assert tenant_row(console, slug) == before
    page.locator("#f-tenant-time_zone").fill("Europe/Stockholm")
    page.locator("#f-tenant-name").fill("Uusi nimi Oy")
    page.locator("#f-tenant-language").select_option("en")
    submit_and_reload(page, "tenant")
    before = tenant_row(console, slug)
    assert (before["name"], before["language"]) == ("Uusi nimi Oy", "en")
    expect(page.locator("html")).to_have_attribute("lang", "en")  # the tenant's language now
    page.locator("#f-retention-recording_retention").fill("forever")
    page.locator("#f-retention-case_retention").fill("40m")
    submit(page, "retention")
    expect(page.locator("#e-retention-recording_retention")).not_to_be_empty()
    expect(page.locator("#e-retention-case_retention")).not_to_be_empty()
    expect(page.locator("#f-retention-recording_retention")).to_have_attribute(
        "aria-invalid", "true"
    )
    shot(page, "retention-error")
    assert tenant_row(console, slug) == before
    page.locator("#f-retention-recording_retention").fill("45d")
    page.locator("#f-retention-case_retention").fill("6m")
    submit_and_reload(page, "retention")
    expect(page.locator("#f-retention-recording_retention")).to_have_value("45d")
    after = tenant_row(console, slug)
    assert after["recording_retention"].days == 45 and after["case_retention"].days == 180
    assert console.fetch(
        "SELECT 1 FROM audit_log WHERE action LIKE 'tenant.%' AND actor LIKE 'user:admin-%' "
        "AND target_id = (SELECT id::text FROM tenants WHERE slug = $1)",
        slug,
    ), "the change is audited as the admin"
    # the admin's tenants page shows their tenant only; another tenant's page is refused
    page.goto("/admin/tenants")
    expect(page.locator("#tenants tbody tr")).to_have_count(1)
    reply = page.goto("/admin/tenants/demo")
    assert reply is not None and reply.status == 403


def test_an_admin_adds_a_user_and_disables_them_and_bad_fields_change_nothing(
    console: Console, page_as: PageAs, shot: Shot
) -> None:
    slug = console.tenant()
    page = page_as(console.user(Role.ADMIN, tenant=slug))
    page.goto("/admin/users")
    users_before = console.fetch("SELECT count(*) AS n FROM users")[0]["n"]
    page.locator("#f-new-user-login").fill("Not A Login!")
    page.locator("#f-new-user-name").fill("Uusi Agentti")
    page.locator("#f-new-user-password").fill("short")
    page.locator("#f-new-user-email").fill("not-an-email")
    page.locator("#f-new-user-email").press("Enter")
    for name in ("login", "password", "email"):
        expect(page.locator(f"#e-new-user-{name}")).not_to_be_empty()
    expect(page.locator("#e-new-user-name")).to_be_empty()
    shot(page, "user-errors")
    assert console.fetch("SELECT count(*) AS n FROM users")[0]["n"] == users_before
    login = f"uusi-{slug[-8:]}"
    page.locator("#f-new-user-login").fill(login)
    page.locator("#f-new-user-password").fill("a-long-enough-password")
    page.locator("#f-new-user-email").fill("")
    page.locator("#f-new-user-role").select_option("admin")
    submit_and_reload(page, "new-user")
    expect(page.get_by_role("link", name=login)).to_be_visible()
    (made,) = console.fetch(
        "SELECT u.role, t.slug FROM users u JOIN tenants t ON t.id = u.tenant_id "
        "WHERE u.login = $1",
        login,
    )
    assert made == {"role": "admin", "slug": slug}
    page.get_by_role("link", name=login).click()
    page.locator("#f-user-email").fill("ei-osoite")
    page.locator("#f-user-name").fill("Muutettu Nimi")
    submit(page, "user")
    expect(page.locator("#e-user-email")).not_to_be_empty()
    page.locator("#f-password-password").fill("short")
    submit(page, "password")
    expect(page.locator("#e-password-password")).not_to_be_empty()
    (unchanged,) = console.fetch(
        "SELECT name, email, password_hash FROM users WHERE login = $1", login
    )
    assert (unchanged["name"], unchanged["email"]) == ("Uusi Agentti", None)
    page.locator("#f-password-password").fill("another-long-password")
    submit(page, "password")
    expect(page.locator("#password [data-form-status]")).not_to_be_empty()
    (changed,) = console.fetch("SELECT password_hash FROM users WHERE login = $1", login)
    assert changed["password_hash"] != unchanged["password_hash"]
    page.get_by_role("button", name="Poista käytöstä").click()
    dialog = page.locator("#confirm-disable")
    expect(dialog).to_be_visible()
    dialog.get_by_role("button", name="Poista käytöstä").click()
    expect(page.get_by_test_id("state")).to_have_text("poistettu käytöstä")
    (row,) = console.fetch("SELECT disabled_at FROM users WHERE login = $1", login)
    assert row["disabled_at"] is not None
    # the admin may not see a user of another tenant
    reply = page.goto("/admin/users/admin")
    assert reply is not None and reply.status == 403


def test_an_operator_adds_a_tenant_and_a_number_and_bad_ones_change_nothing(
    console: Console, page_as: PageAs, shot: Shot
) -> None:
    page = page_as(console.user(Role.OPERATOR, tenant=None))
    slug = f"uusi-{console.tenant()[-8:]}"
    page.goto("/admin/tenants")
    page.locator("#f-new-tenant-slug").fill("Ei Kelpaa")
    page.locator("#f-new-tenant-name").fill(f"Uusi {slug} Oy")
    submit(page, "new-tenant")
    expect(page.locator("#e-new-tenant-slug")).not_to_be_empty()
    assert not console.fetch("SELECT 1 FROM tenants WHERE name = $1", f"Uusi {slug} Oy")
    page.locator("#f-new-tenant-slug").fill(slug)
    submit_and_reload(page, "new-tenant")
    # The list has 50 tenants a page in slug order, and a persisted cluster holds the
    # tenants of earlier runs: open the page the new slug starts (slugs after the cursor).
    page.goto(f"/admin/tenants?after={slug[:-1]}")
    expect(page.get_by_role("link", name=slug)).to_be_visible()
    page.goto("/admin/numbers")
    page.locator("#f-new-number-number").fill("12ab")
    page.locator("#f-new-number-tenant").fill(slug)
    submit(page, "new-number")
    expect(page.locator("#e-new-number-number")).not_to_be_empty()
    shot(page, "number-error")
    tenant_numbers = (
        "SELECT n.number FROM service_numbers n JOIN tenants t ON t.id = n.tenant_id "
        "WHERE t.slug = $1"
    )
    assert console.fetch(tenant_numbers, slug) == []
    number = "0" + slug[-8:].translate(str.maketrans("abcdef", "123456"))
    page.locator("#f-new-number-number").fill(number)
    submit_and_reload(page, "new-number")
    row = page.locator("#numbers tbody tr", has_text=number)
    expect(row).to_have_count(1)
    assert console.fetch(tenant_numbers, slug) == [{"number": number}]
    row.get_by_role("button", name="Poista").click()
    page.locator("#confirm-remove").get_by_role("button", name="Poista").click()
    expect(page.locator("#numbers tbody tr", has_text=number)).to_have_count(0)
    assert console.fetch(tenant_numbers, slug) == []


def test_people_find_restrict_and_erase_with_a_confirmation_step(
    console: Console, page_as: PageAs, shot: Shot
) -> None:
    slug = console.tenant()
    admin = console.user(Role.ADMIN, tenant=slug)
    page = page_as(admin)
    page.goto("/people")
    audited = (
        "SELECT action FROM audit_log WHERE actor = $1 "
        "AND (action LIKE 'subject.%' OR action = 'erasure') ORDER BY id"
    )
    page.locator("#f-subject-phone").fill("not a phone")
    page.locator("#f-subject-phone").press("Enter")
    expect(page.locator("#e-subject-phone")).not_to_be_empty()
    page.locator("#f-subject-phone").fill("")
    page.locator("#do-restrict").click()  # neither phone nor e-mail
    expect(page.locator("#e-subject-phone")).not_to_be_empty()
    expect(page.locator("#e-subject-email")).not_to_be_empty()
    shot(page, "subject-errors")
    assert console.fetch(audited, f"user:{admin}") == []
    phone = "040" + str(int(slug[-8:], 16) % 10**7).zfill(7)
    page.locator("#f-subject-phone").fill(phone)
    page.locator("#do-export").click()
    expect(page.locator("#held")).to_be_visible()
    expect(page.locator("#result")).to_contain_text("cases")
    page.locator("#f-subject-reason").fill("asiakkaan pyyntö")
    page.locator("#do-restrict").click()
    expect(page.locator("#result")).to_contain_text("Rajoitettu")
    restricted = console.fetch(
        "SELECT r.reason FROM subject_restrictions r JOIN tenants t ON t.id = r.tenant_id "
        "WHERE t.slug = $1",
        slug,
    )
    assert restricted == [{"reason": "asiakkaan pyyntö"}]
    page.locator("#do-erase").click()
    dialog = page.locator("#confirm-erase")
    expect(dialog).to_be_visible()
    dialog.get_by_role("button", name="Peruuta").click()  # the first step alone erases nothing
    expect(dialog).to_be_hidden()
    ledger = (
        "SELECT e.request_ref FROM erasure_ledger e JOIN tenants t ON t.id = e.tenant_id "
        "WHERE t.slug = $1"
    )
    assert console.fetch(ledger, slug) == []
    page.locator("#f-subject-ref").fill("TIKETTI-1")
    page.locator("#do-erase").click()
    dialog.get_by_role("button", name="Poista pysyvästi").click()
    expect(page.locator("#result [data-ledger]")).to_be_visible()
    assert console.fetch(ledger, slug) == [{"request_ref": "TIKETTI-1"}]
    page.reload()
    expect(page.locator("#ledger tbody tr", has_text="TIKETTI-1")).to_have_count(1)
    shot(page, "ledger")
    actions = [r["action"] for r in console.fetch(audited, f"user:{admin}")]
    assert actions[:2] == ["subject.export", "subject.restrict"] and "erasure" in actions, actions


def test_the_audit_log_filters_and_shows_the_chain_and_a_bad_filter_is_refused(
    console: Console, page_as: PageAs, shot: Shot
) -> None:
    slug = console.tenant()
    admin = console.user(Role.ADMIN, tenant=slug)
    page = page_as(admin)
    page.goto("/admin/users")
    page.locator("#f-new-user-login").fill(f"audit-{slug[-8:]}")
    page.locator("#f-new-user-name").fill("Lokitettu")
    page.locator("#f-new-user-password").fill("a-long-enough-password")
    submit_and_reload(page, "new-user")
    expect(page.get_by_role("link", name=f"audit-{slug[-8:]}")).to_be_visible()
    page.goto("/audit")
    expect(page.get_by_test_id("chain")).to_have_text("ehjä")
    page.get_by_role("link", name="Tarkista koko ketju nyt").click()
    expect(page).to_have_url(re.compile(r"verify=full"))
    expect(page.get_by_test_id("chain")).to_have_text("ehjä")
    expect(page.get_by_test_id("chain-full")).to_contain_text("0 min sitten")
    reply = page.goto("/audit?verify=yes")
    assert reply is not None and reply.status == 400
    expect(page.locator("#audit-verify-error")).to_contain_text("verify=full")
    page.goto("/audit")
    page.locator("#f-audit-action").fill("user.")
    page.locator("#f-audit-action").press("Enter")
    expect(page).to_have_url(re.compile(r"action=user\."))
    actions = page.locator("#entries tbody tr td:nth-child(3)").all_inner_texts()
    assert actions and all(a.startswith("user.") for a in actions), actions
    shot(page, "audit")
    reply = page.goto("/audit?since=yesterday&until=2026-01-01")
    assert reply is not None and reply.status == 400
    expect(page.locator("#e-audit-since")).not_to_be_empty()
    expect(page.locator("#entries tbody tr")).to_have_text("Ei rivejä.")
    other = page_as(console.user(Role.ADMIN, tenant=console.tenant()))
    other.goto("/audit?action=user.")
    seen = other.locator("#entries").inner_text()
    assert f"audit-{slug[-8:]}" not in seen  # another tenant's entries are not shown


def agent_state(console: Console, page: Page, agent: str) -> str:
    return page.locator(f"#agent-{agent} [data-testid=state]").inner_text()


def test_agents_pause_with_a_reason_for_oneself_and_an_admin_for_anyone(
    console: Console, page_as: PageAs, shot: Shot
) -> None:
    me = page_as(console.user(Role.TEAM, login="agent3"))
    me.goto("/agents")
    expect(me.locator("#agents tbody tr")).to_have_count(1)  # only oneself
    if agent_state(console, me, "agent3") != "uloskirjattu":
        me.locator("#agent-agent3").get_by_role("button", name="Kirjaa ulos").click()
    me.locator("#agent-agent3").get_by_role("button", name="Kirjaa sisään").click()
    expect(me.locator("#agent-agent3 [data-testid=state]")).to_have_text("vapaa")
    reason = me.locator("#agent-agent3 input[name=reason]")
    reason.fill("x" * 101)
    reason.press("Enter")
    expect(me.locator("#agent-agent3 [data-error-for=reason]")).not_to_be_empty()
    shot(me, "pause-error")
    me.reload()
    expect(me.locator("#agent-agent3 [data-testid=state]")).to_have_text("vapaa")
    me.locator("#agent-agent3 input[name=reason]").fill("lounas")
    me.locator("#agent-agent3").get_by_role("button", name="Tauko").click()
    expect(me.locator("#agent-agent3 [data-testid=state]")).to_have_text("tauolla")
    expect(me.locator("#agent-agent3")).to_contain_text("lounas")
    admin = page_as(console.user(Role.ADMIN))
    admin.goto("/agents")
    assert admin.locator("#agents tbody tr").count() >= 3
    admin.locator("#agent-agent3").get_by_role("button", name="Kirjaa ulos").click()
    expect(admin.locator("#agent-agent3 [data-testid=state]")).to_have_text("uloskirjattu")
    shot(admin, "agents")
    # a team user may not change another agent: the API refuses (403)
    other = page_as(console.user(Role.TEAM, login="agent2"))
    other.goto("/agents")
    expect(other.locator("#agents tbody tr")).to_have_count(1)
    token = other.locator("meta[name=csrf-token]").get_attribute("content") or ""
    reply = other.request.post("/api/agents/agent3/login", headers={"X-CSRF-Token": token})
    assert reply.status == 403
    admin.reload()
    expect(admin.locator("#agent-agent3 [data-testid=state]")).to_have_text("uloskirjattu")
