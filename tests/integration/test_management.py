"""The management plane against the real stack: `linja tenant|number|user` (the real entry
point, as a subprocess and in-process), the API behind a real controller, the demo admin of
the README, and the end-to-end onboarding of a new tenant with CLI commands only.

Names carry a random suffix: these tests share the stack's database with the others.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ivr.config import Settings, project_root
from tests.support import Controller, basic_auth, linja_here, run_sipp, sql, wait_for

pytestmark = pytest.mark.integration

MENU_FLOW = """# Flow definitions of tenant "{slug}" (written by the onboarding test).
tenant = "{slug}"
language = "en"
entry = "main"

[prompts.welcome]
text = "Welcome."

[prompts.invalid]
text = "Sorry."

[prompts.goodbye]
text = "Goodbye."

[menus.main]
prompt = "welcome"
invalid_prompt = "invalid"
first_digit_timeout = 5
retries = 3
failure = "hangup:goodbye"

[menus.main.options]
"1" = "hangup:goodbye"
"""
ROUTE = """; Tenant {slug}: call-center menu on {number} (flows/{slug}.toml).
[linja-inbound]
exten => {number},1,Stasis(linja,menu,{slug})
 same => n,GotoIf($["${{STASISSTATUS}}" = "FAILED"]?linja-unavailable,s,1)
 same => n,Hangup()
"""


def linja_process(*argv: str, stdin: str = "") -> tuple[int, str, str]:
    """`linja argv` as a new process (the console script's module)."""
    proc = subprocess.run(
        [sys.executable, "-m", "ivr.cli", *argv],
        input=stdin,
        capture_output=True,
        text=True,
        cwd=project_root(),
        timeout=90,
        check=False,
    )
    return proc.returncode, proc.stdout, proc.stderr


def linja(*argv: str, stdin: str = "") -> tuple[int, str, str]:
    """`linja argv` in this process, through :func:`ivr.cli.main`."""
    done = linja_here(*argv, stdin=stdin)
    return done.returncode, done.stdout, done.stderr


def ok_json(result: tuple[int, str, str]) -> dict[str, Any]:
    code, out, err = result
    assert code == 0, err
    doc = json.loads(out)
    assert isinstance(doc, dict)
    return doc


def http(
    ctl: Controller, method: str, path: str, auth: tuple[str, str] | None, body: Any = None
) -> tuple[int, Any]:
    headers = {} if auth is None else basic_auth(*auth)
    data = None if body is None else json.dumps(body).encode()
    if data is not None:
        headers["Content-Type"] = "application/json"
    req = urllib.request.Request(ctl.url(path), method=method, headers=headers, data=data)
    try:
        with urllib.request.urlopen(req, timeout=15) as resp:
            return resp.status, json.loads(resp.read() or b"null")
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"null")


def fetch(settings: Settings, query: str, *args: object) -> list[dict[str, Any]]:
    return [dict(r) for r in sql(settings, query, *args)]


COUNTS = (
    "SELECT (SELECT count(*) FROM tenants) AS tenants, (SELECT count(*) FROM users) AS users,"
    " (SELECT count(*) FROM service_numbers) AS numbers, (SELECT count(*) FROM audit_log) AS audit"
)


def suffix() -> str:
    return uuid.uuid4().hex[:8]


def free_number() -> str:
    return "47" + str(uuid.uuid4().int % 10**6).zfill(6)


@pytest.fixture
def operator(stack: Settings) -> tuple[str, str]:
    login, password = f"ops-{suffix()}", "ops-password-" + suffix()
    ok_json(
        linja(
            "user",
            "add",
            login,
            "--name",
            "Test operator",
            "--role",
            "operator",
            "--password-stdin",
            "--json",
            stdin=password + "\n",
        )
    )
    return login, password


@pytest.fixture
def project_dialplan_restored(stack: Settings) -> Iterator[None]:
    yield
    code, _, err = linja("dialplan", "reload")
    assert code == 0, f"restoring the project's dialplan: {err}"


# -- the CLI ----------------------------------------------------------------------------------


def test_cli_tenant_commands_through_the_console_script(stack: Settings) -> None:
    slug = f"cli-{suffix()}"
    doc = ok_json(
        linja_process(
            "tenant",
            "add",
            slug,
            "--name",
            "Cli Oy",
            "--language",
            "sv",
            "--time-zone",
            "Europe/Stockholm",
            "--recording-retention",
            "90d",
            "--voice-message-retention",
            "2w",
            "--case-retention",
            "1y",
            "--transcripts",
            "on",
            "--transcript-retention",
            "6m",
            "--json",
        )
    )
    assert doc["tenant"] | {"id": None} == {
        "id": None,
        "slug": slug,
        "name": "Cli Oy",
        "language": "sv",
        "time_zone": "Europe/Stockholm",
        "recording_retention": "3m",
        "voice_message_retention": "2w",
        "case_retention": "1y",
        "transcripts": True,
        "transcript_retention": "6m",
    }
    (row,) = fetch(
        stack,
        "SELECT recording_retention, voicemail_retention, case_retention,"
        " time_zone FROM tenants WHERE slug = $1",
        slug,
    )
    assert (row["recording_retention"].days, row["voicemail_retention"].days) == (90, 14)
    assert row["case_retention"].days == 365 and row["time_zone"] == "Europe/Stockholm"

    before = fetch(stack, COUNTS)
    code, out, err = linja_process(
        "tenant", "set", slug, "--case-retention", "40m", "--time-zone", "Nowhere/City", "--json"
    )
    assert code == 2 and "Traceback" not in err
    assert set(json.loads(out)["errors"]) == {"--case-retention", "--time-zone"}
    assert fetch(stack, COUNTS) == before

    doc = ok_json(linja("tenant", "set", slug, "--case-retention", "6m", "--json"))
    assert doc["tenant"]["case_retention"] == "6m"
    listed = ok_json(linja("tenant", "list", "--json", "--limit", "200"))
    assert slug in [t["slug"] for t in listed["items"]]
    shown = ok_json(linja("tenant", "show", slug, "--json"))
    assert shown["tenant"]["case_retention"] == "6m"
    (audit,) = fetch(
        stack,
        "SELECT actor, details FROM audit_log WHERE action = 'tenant.update' AND target_id = $1",
        shown["tenant"]["id"],
    )
    assert audit["actor"] == "cli"


def test_cli_users_numbers_and_by(stack: Settings, operator: tuple[str, str]) -> None:
    ops, _ = operator
    slug = f"usr-{suffix()}"
    ok_json(linja("tenant", "add", slug, "--name", "Users Oy", "--by", ops, "--json"))
    admin = f"{slug}-admin"
    ok_json(
        linja(
            "user",
            "add",
            admin,
            "--name",
            "Admin",
            "--role",
            "admin",
            "--tenant",
            slug,
            "--password-stdin",
            "--by",
            ops,
            "--json",
            stdin="admin-password-1\n",
        )
    )
    # An admin may manage their own tenant's users, not add tenants or touch other tenants.
    team = ok_json(
        linja(
            "user",
            "add",
            f"{slug}-team",
            "--name",
            "Team",
            "--role",
            "team",
            "--tenant",
            slug,
            "--password-stdin",
            "--by",
            admin,
            "--json",
            stdin="team-password-1\n",
        )
    )
    assert team["user"]["tenant"] == slug and team["user"]["role"] == "team"
    code, _, err = linja("tenant", "add", f"x-{slug}", "--name", "X", "--by", admin)
    assert code == 2 and "only an operator" in err
    code, _, err = linja("user", "disable", "agent1", "--by", admin)
    assert code == 2 and "not an admin of this tenant" in err

    rows = fetch(
        stack,
        "SELECT a.actor, a.actor_user_id AS user_id, a.action FROM audit_log a"
        " WHERE a.action = 'user.create' AND a.details->>'login' = $1",
        f"{slug}-team",
    )
    assert [r["actor"] for r in rows] == [f"user:{admin}"]
    (by,) = fetch(stack, "SELECT id FROM users WHERE login = $1", admin)
    assert rows[0]["user_id"] == by["id"]

    doc = ok_json(
        linja(
            "user",
            "set-phone-login",
            f"{slug}-team",
            "--phone-login",
            str(uuid.uuid4().int % 10**8).zfill(8),
            "--pin-stdin",
            "--json",
            stdin="4321\n",
        )
    )
    assert doc["user"]["has_phone_pin"] is True
    (pin,) = fetch(stack, "SELECT phone_pin_hash FROM users WHERE login = $1", f"{slug}-team")
    assert pin["phone_pin_hash"].startswith("$argon2") and "4321" not in pin["phone_pin_hash"]
    assert ok_json(linja("user", "disable", f"{slug}-team", "--json"))["user"]["active"] is False
    assert ok_json(linja("user", "enable", f"{slug}-team", "--json"))["user"]["active"] is True
    listed = ok_json(linja("user", "list", "--tenant", slug, "--json"))
    assert [u["login"] for u in listed["items"]] == [admin, f"{slug}-team"]

    number = free_number()
    added = ok_json(
        linja("number", "add", number, "--tenant", slug, "--service", "bulletin", "--json")
    )
    (warning,) = added["warnings"]
    assert f"does not route {number}" in warning
    code, _, err = linja("number", "add", number, "--tenant", slug, "--service", "bulletin")
    assert code == 2 and "already" in err
    removed = ok_json(linja("number", "remove", number, "--json"))
    assert removed["removed"]["number"] == number
    code, _, err = linja("number", "remove", "100")  # the demo bulletin's number has history
    assert code == 2 and "has history" in err
    assert fetch(stack, "SELECT 1 FROM service_numbers WHERE number = '100'")


def test_cli_pages_walk_the_keys_in_postgres(stack: Settings) -> None:
    slug = f"pg-{suffix()}"
    ok_json(linja("tenant", "add", slug, "--name", "Pages Oy", "--json"))
    logins = [f"{slug}-{n}" for n in ("c", "a", "b")]
    for login in logins:
        ok_json(
            linja(
                "user",
                "add",
                login,
                "--name",
                "U",
                "--role",
                "external",
                "--tenant",
                slug,
                "--password-stdin",
                "--json",
                stdin="page-password-1\n",
            )
        )
    first = ok_json(linja("user", "list", "--tenant", slug, "--limit", "2", "--json"))
    assert [u["login"] for u in first["items"]] == sorted(logins)[:2]
    assert first["next"] == sorted(logins)[1]
    rest = ok_json(
        linja("user", "list", "--tenant", slug, "--limit", "2", "--after", first["next"], "--json")
    )
    assert [u["login"] for u in rest["items"]] == sorted(logins)[2:] and rest["next"] is None


# -- the API ----------------------------------------------------------------------------------


def test_api_against_the_real_controller(
    stack: Settings, controller: Controller, operator: tuple[str, str]
) -> None:
    slug = f"api-{suffix()}"
    status, doc = http(
        controller,
        "POST",
        "/api/tenants",
        operator,
        {"slug": slug, "name": "Api Oy", "case_retention": "18m"},
    )
    assert status == 201 and doc["case_retention"] == "18m", doc
    status, admin = http(
        controller,
        "POST",
        "/api/users",
        operator,
        {
            "login": f"{slug}-admin",
            "name": "A",
            "role": "admin",
            "tenant": slug,
            "password": "admin-password-1",
        },
    )
    assert status == 201, admin
    me = (f"{slug}-admin", "admin-password-1")
    status, doc = http(
        controller,
        "PATCH",
        f"/api/tenants/{slug}",
        me,
        {"language": "en", "recording_retention": "1m"},
    )
    assert status == 200 and doc["language"] == "en" and doc["recording_retention"] == "1m"
    assert http(controller, "GET", "/api/tenants/demo", me)[0] == 403
    status, users = http(controller, "GET", "/api/users", me)
    assert status == 200 and [u["login"] for u in users["items"]] == [f"{slug}-admin"]
    # every bad field at once, unknown ones too; nothing changes
    before = fetch(stack, COUNTS)
    status, doc = http(
        controller,
        "POST",
        "/api/users",
        me,
        {"login": "X", "name": "", "role": "boss", "password": "short", "shoe_size": 44},
    )
    assert status == 400
    assert set(doc["errors"]) == {"login", "name", "role", "password", "shoe_size"}
    assert fetch(stack, COUNTS) == before
    (row,) = fetch(
        stack,
        "SELECT actor, actor_user_id AS user_id FROM audit_log WHERE action = 'tenant.update'"
        " AND target_id = (SELECT id::text FROM tenants WHERE slug = $1)",
        slug,
    )
    assert row["actor"] == f"user:{slug}-admin" and row["user_id"] == uuid.UUID(admin["id"])
    # disabled: refused at the very next request
    status, _ = http(controller, "POST", f"/api/users/{slug}-admin/disable", operator)
    assert status == 200
    assert http(controller, "GET", "/api/users/me", me)[0] == 401


BODY = st.dictionaries(
    st.sampled_from(
        [
            "slug",
            "name",
            "language",
            "time_zone",
            "case_retention",
            "login",
            "role",
            "password",
            "tenant",
            "number",
            "service",
            "zzz",
        ]
    ),
    st.none() | st.integers() | st.text(max_size=12) | st.sampled_from(["", "0d", "40m"]),
    max_size=4,
).map(lambda d: d | {"zzz": 1})


@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
@given(body=BODY, path=st.sampled_from(["/api/tenants", "/api/users", "/api/numbers"]))
def test_generated_malformed_bodies_change_nothing_in_postgres(
    stack: Settings, controller: Controller, operator: tuple[str, str], body: Any, path: str
) -> None:
    before = fetch(stack, COUNTS)
    status, doc = http(controller, "POST", path, operator, body)
    assert status == 400 and doc["errors"]["zzz"] == "unknown field", doc
    assert fetch(stack, COUNTS) == before


# -- the README's demo admin ------------------------------------------------------------------


def test_the_readme_examples_with_the_demo_admin(
    stack: Settings, controller: Controller, tmp_path: Path
) -> None:
    code, out, _ = linja_process("demo", "seed")
    assert code == 0 and "demo admin admin exists" in out and "linja user passwd admin" in out
    password = "readme-" + suffix()
    ok_json(linja("user", "passwd", "admin", "--password-stdin", "--json", stdin=password + "\n"))
    (row,) = fetch(stack, "SELECT password_hash FROM users WHERE login = 'admin'")
    assert row["password_hash"].startswith("$argon2") and password not in row["password_hash"]
    status, agents = http(controller, "GET", "/api/agents", ("admin", password))
    assert status == 200, agents
    code, out, err = linja_process(
        "subject",
        "export",
        "--tenant",
        "demo",
        "--phone",
        "0401234567",
        "--by",
        "admin",
        "--out",
        str(tmp_path),
    )
    assert code == 0, err
    assert "exported to" in out


# -- the end-to-end check ----------------------------------------------------------------


def test_a_tenant_onboarded_with_cli_commands_only_answers_a_call_and_sees_only_its_own(
    stack: Settings,
    controller: Controller,
    tmp_path: Path,
    project_dialplan_restored: None,
) -> None:
    slug, number = f"new-{suffix()}", free_number()
    ok_json(
        linja_process(
            "tenant",
            "add",
            slug,
            "--name",
            "Uusi Oy",
            "--language",
            "en",
            "--time-zone",
            "Europe/Tallinn",
            "--recording-retention",
            "30d",
            "--voice-message-retention",
            "2w",
            "--case-retention",
            "6m",
            "--json",
        )
    )
    # The ops step (README "Tenants, numbers and users"): the tenant's flow file and route,
    # checked and made live with `linja dialplan reload`.
    dialplan = tmp_path / "dialplan"
    shutil.copytree(project_root() / "dialplan", dialplan, ignore=shutil.ignore_patterns("*.py"))
    (dialplan / "flows" / f"{slug}.toml").write_text(MENU_FLOW.format(slug=slug))
    (dialplan / f"{slug}.conf").write_text(ROUTE.format(slug=slug, number=number))
    code, out, err = linja("dialplan", "reload", "--dir", str(dialplan))
    assert code == 0, out + err
    added = ok_json(
        linja_process(
            "number",
            "add",
            number,
            "--tenant",
            slug,
            "--service",
            "callcenter",
            "--dialplan-dir",
            str(dialplan),
            "--json",
        )
    )
    assert added["warnings"] == []
    admin, password = f"{slug}-admin", "new-admin-password"
    ok_json(
        linja_process(
            "user",
            "add",
            admin,
            "--name",
            "Uusi admin",
            "--role",
            "admin",
            "--tenant",
            slug,
            "--password-stdin",
            "--json",
            stdin=password + "\n",
        )
    )
    ok_json(
        linja(
            "user",
            "add",
            f"{slug}-agent",
            "--name",
            "Uusi agent",
            "--role",
            "team",
            "--tenant",
            slug,
            "--password-stdin",
            "--json",
            stdin="agent-password-1\n",
        )
    )

    wait_for(
        "the controller has the new flow definitions",
        lambda: (
            f"from a new snapshot: tenants {slug}" in controller.log()
            or f", {slug}" in controller.log()
        ),
        timeout=10,
    )
    result = run_sipp(
        "caller-presses-invalid-keys.xml",
        tmp_path / "sipp",
        service=number,
        settings=stack,
        timeout=45,
    )
    assert result.returncode == 0, result.output + result.errors + controller.log()[-3000:]
    (tenant,) = fetch(stack, "SELECT id FROM tenants WHERE slug = $1", slug)
    cases = wait_for(
        "the call's case",
        lambda: fetch(
            stack,
            "SELECT tenant_id, ended_at FROM cases WHERE service_number = $1"
            " AND ended_at IS NOT NULL",
            number,
        ),
        timeout=15,
    )
    assert [c["tenant_id"] for c in cases] == [tenant["id"]]

    me = (admin, password)
    status, tenants = http(controller, "GET", "/api/tenants", me)
    assert status == 200 and [t["slug"] for t in tenants["items"]] == [slug]
    assert tenants["items"][0]["recording_retention"] == "1m"
    status, users = http(controller, "GET", "/api/users", me)
    assert {u["login"] for u in users["items"]} == {admin, f"{slug}-agent"}
    status, numbers = http(controller, "GET", "/api/numbers", me)
    assert [n["number"] for n in numbers["items"]] == [number]
    for path in (
        "/api/tenants/demo",
        "/api/users/agent1",
        "/api/users?tenant=demo",
        "/api/numbers?tenant=demo",
    ):
        assert http(controller, "GET", path, me)[0] == 403, path
    status, _ = http(
        controller, "POST", "/api/subjects/export", me, {"tenant": "demo", "phone": "0401234567"}
    )
    assert status == 403
