"""Staff call-out on the real stack (issue 16): members are one SIPp UAS at the trunk
(`callout-member.xml`: what a member does follows the last digit of the dialled number).
With N = 2 the call-out ends confirmed with exactly the expected attempts per member, and
the calls up at once, measured at the UAS, never exceed the cap."""

from __future__ import annotations

import asyncio
import base64
import itertools
import json
import random
import shutil
import subprocess
import time
import urllib.error
import urllib.request
import uuid
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from ivr.audio import silence
from ivr.callout.sipp_audio import member_audio
from ivr.config import Settings
from storage.db import short_lived_sessions
from storage.domain import Actor
from storage.repositories.callouts import CalloutRepository
from storage.repositories.tenants import TenantRepository
from tests.support import (
    SCENARIOS,
    Controller,
    ari_get,
    basic_auth,
    ensure_demo_admin,
    free_media_port,
    free_udp_port,
    linja_here,
    owner_connection,
    wait_for,
)

pytestmark = pytest.mark.integration

# Last digit -> behaviour (callout-member.xml): 1/6 press 1, 4 press 2, 3 machine, 2 never
# answers, 5 busy.
CONFIRMS = "+358401600001"
NEVER_ANSWERS = "+358401600002"
MACHINE = "+358401600003"
DECLINES = "+358401600004"
BUSY_FIRST = "+358401600005"
SECOND_CONFIRMS = "+358401600006"


async def _sql(settings: Settings, query: str, *args: Any) -> list[asyncpg.Record]:
    conn = await owner_connection(settings)
    try:
        return list(await conn.fetch(query, *args))
    finally:
        await conn.close()


def sql(settings: Settings, query: str, *args: Any) -> list[asyncpg.Record]:
    return asyncio.run(_sql(settings, query, *args))


def linja(*args: str) -> subprocess.CompletedProcess[str]:
    """In this process (tests.support.linja_here): the module makes about forty calls."""
    return linja_here(*args)


def ok(*args: str) -> str:
    done = linja(*args)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout.strip()


class Members:
    """The members' phones: one SIPp UAS on the port the trunk points at."""

    def __init__(self, workdir: Path, port: int, *, calls: int) -> None:
        self.workdir = workdir
        workdir.mkdir(parents=True, exist_ok=True)
        member_audio(workdir)  # what a person (or a machine) says on answering
        self.proc = subprocess.Popen(
            [
                "sipp", "-sf", str(SCENARIOS / "callout-member.xml"), "-i", "127.0.0.1",
                "-p", str(port), "-mp", str(free_media_port()), "-m", str(calls),
                "-timeout", "300s", "-timeout_error", "-nostdin", "-trace_err",
            ],
            cwd=workdir,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            errors="replace",  # SIPp's screen may carry a packet's raw bytes
        )  # fmt: skip

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def events(self) -> list[tuple[str, str, str, float]]:
        """(call, number, what, epoch) lines of calls.log."""
        log = self.workdir / "calls.log"
        if not log.exists():
            return []
        out = []
        for line in log.read_text().splitlines():
            call, number, what, at = line.split()
            out.append((call, number, what, float(at)))
        return out

    def invites(self) -> Counter[str]:
        return Counter(n for _, n, what, _ in self.events() if what == "invite")

    def peak(self) -> int:
        """The most calls up at once (from their INVITE to their end), at the UAS."""
        marks = sorted(
            (at, 1 if what == "invite" else -1)
            for _, _, what, at in self.events()
            if what in ("invite", "end")
        )
        up = peak = 0
        for _, step in marks:
            up += step
            peak = max(peak, up)
        return peak

    def overlapping_calls_to_one_number(self) -> list[str]:
        spans: dict[str, list[tuple[float, float]]] = {}
        starts: dict[str, tuple[str, float]] = {}
        for call, number, what, at in self.events():
            if what == "invite":
                starts[call] = (number, at)
            elif what == "end" and call in starts:
                n, t0 = starts.pop(call)
                spans.setdefault(n, []).append((t0, at))
        bad = []
        for n, s in spans.items():
            s.sort()
            if any(b[0] < a[1] for a, b in itertools.pairwise(s)):
                bad.append(n)
        return bad


def _env(port: int) -> dict[str, str]:
    return {
        "LINJA_CALLBACK_TRUNK": f"127.0.0.1:{port}",
        "LINJA_CALLOUT_POLL_INTERVAL": "0.5",
        "LINJA_CALLOUT_KEY_TIMEOUT": "2",
        "LINJA_CALLOUT_PLAYS": "2",
        "LINJA_CALLOUT_LEASE": "9",
    }


def _end_running(settings: Settings) -> None:
    sql(
        settings,
        "UPDATE callouts SET status = 'cancelled', ended_at = now() WHERE status = 'running'",
    )


@pytest.fixture
def member_port() -> int:
    return free_udp_port()


@pytest.fixture
def callout_controller(stack: Settings, tmp_path: Path, member_port: int) -> Iterator[Controller]:
    _end_running(stack)
    ctl = Controller(stack, tmp_path / "controller.log", env=_env(member_port))
    ctl.start()
    try:
        yield ctl
    finally:
        ctl.stop()
        _end_running(stack)


def _group(name: str, members: list[tuple[str, list[str]]]) -> None:
    ok("group", "create", "--tenant", "demo", "--name", name)
    for who, numbers in members:
        args = ["group", "add-member", "--tenant", "demo", "--group", name, "--name", who]
        for n in numbers:
            args += ["--number", n]
        ok(*args)


def _wait_ended(settings: Settings, callout_id: str, timeout: float) -> asyncpg.Record:
    return wait_for(
        f"call-out {callout_id} to end",
        lambda: next(
            (
                r
                for r in sql(
                    settings, "SELECT * FROM callouts WHERE id = $1", uuid.UUID(callout_id)
                )
                if r["status"] != "running"
            ),
            None,
        ),
        timeout=timeout,
        step=0.5,
    )


def test_callout_with_n_2_ends_confirmed_with_the_expected_attempts(
    stack: Settings, callout_controller: Controller, tmp_path: Path, member_port: int
) -> None:
    name = f"repair-{uuid.uuid4().hex[:8]}"
    _group(
        name,
        [
            ("Aino Confirms", [CONFIRMS]),
            ("Dan Never", [NEVER_ANSWERS]),
            ("Eve Machine", [MACHINE]),
            ("Bo Declines", [DECLINES]),
            ("Cy Busy", [BUSY_FIRST, SECOND_CONFIRMS]),
        ],
    )
    expected = {
        CONFIRMS: 1, NEVER_ANSWERS: 2, MACHINE: 2, DECLINES: 1, BUSY_FIRST: 1, SECOND_CONFIRMS: 1
    }  # fmt: skip
    members = Members(tmp_path / "members", member_port, calls=sum(expected.values()))
    try:
        callout_id = ok(
            "callout", "start", "--tenant", "demo", "--group", name,
            "--message", "Vesijohtovuoto Keskustassa. Tule varikolle.", "--needed", "2",
            "--wait", "10m", "--max-parallel", "2", "--max-attempts", "2",
            "--retry-delay", "2s", "--ring", "5s", "--language", "fi",
        )  # fmt: skip
        done = _wait_ended(stack, callout_id, timeout=180)
        wait_for("no channels left", lambda: ari_get(stack, "/channels") == [], timeout=15)
    finally:
        members.close()
    assert done["status"] == "confirmed"
    assert dict(members.invites()) == expected
    peak = members.peak()
    print("peak concurrency at the UAS:", peak)
    assert peak == 2  # the cap (2) was reached and never exceeded
    assert members.overlapping_calls_to_one_number() == []

    report = json.loads(ok("callout", "report", callout_id, "--format", "json"))
    outcomes = {m["name"]: [a["outcome"] for a in m["attempts"]] for m in report["members"]}
    assert outcomes == {
        "Aino Confirms": ["confirmed"],
        "Dan Never": ["no_answer", "no_answer"],
        "Eve Machine": ["machine", "machine"],
        "Bo Declines": ["declined"],
        "Cy Busy": ["busy", "confirmed"],
    }
    numbers = {m["name"]: [a["number"] for a in m["attempts"]] for m in report["members"]}
    assert numbers["Cy Busy"] == [BUSY_FIRST, SECOND_CONFIRMS]
    assert report["totals"] | {"seconds_to_needed": None} == {
        "members": 5, "confirmed": 2, "declined": 1, "not_reached": 2, "pending": 0,
        "attempts": 8, "seconds_to_needed": None,
    }  # fmt: skip
    assert report["totals"]["seconds_to_needed"] > 0
    keys = [a["key"] for m in report["members"] for a in m["attempts"] if a["key"]]
    assert sorted(keys) == ["1", "1", "2"]
    answered = [a for m in report["members"] for a in m["attempts"] if a["answered_at"]]
    assert len(answered) == 5  # confirms, machine x2, declines, second number
    csv_lines = ok("callout", "report", callout_id, "--format", "csv").splitlines()
    assert len(csv_lines) == 1 + 8
    log = callout_controller.log()
    assert "Traceback" not in log

    # Retention: past the tenant's case retention the sweep blanks the attempts' numbers
    # (outcomes and times stay), with an audit entry.
    blanked = asyncio.run(_blank_numbers(stack, datetime.now(UTC) + timedelta(days=4000)))
    assert blanked >= 8
    kept = json.loads(ok("callout", "report", callout_id, "--format", "json"))
    assert [a["number"] for m in kept["members"] for a in m["attempts"]] == [None] * 8
    assert [[a["outcome"] for a in m["attempts"]] for m in kept["members"]] == [
        [a["outcome"] for a in m["attempts"]] for m in report["members"]
    ]
    audited = sql(stack, "SELECT count(*) AS n FROM audit_log WHERE action = $1", RETENTION)
    assert audited[0]["n"] >= 1


RETENTION = "retention.callout_attempts"


async def _blank_numbers(settings: Settings, now: datetime) -> int:
    """The sweep's call-out step for the demo tenant, at ``now``."""
    async with short_lived_sessions(settings) as sessions:
        tenant = await TenantRepository(sessions).by_slug("demo")
        repo = CalloutRepository(sessions)
        total = 0
        while done := await repo.blank_expired_numbers(
            tenant.id, now, Actor.system("test-sweep"), limit=500
        ):
            total += done
        return total


ADMIN = "callout-test-admin"
ADMIN_PASSWORD = "test-" + uuid.uuid4().hex


def _api(ctl: Controller, method: str, path: str, body: object) -> tuple[int, dict[str, Any]]:
    req = urllib.request.Request(
        ctl.url(path),
        method=method,
        data=json.dumps(body).encode(),
        headers={**basic_auth(ADMIN, ADMIN_PASSWORD), "Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, dict(json.loads(resp.read()))
    except urllib.error.HTTPError as exc:
        return exc.code, dict(json.loads(exc.read()))


def _callouts(settings: Settings) -> int:
    return int(sql(settings, "SELECT count(*) AS n FROM callouts")[0]["n"])


def test_bad_input_gets_exit_2_or_400_naming_the_field_and_starts_nothing(
    stack: Settings, callout_controller: Controller, tmp_path: Path
) -> None:
    asyncio.run(ensure_demo_admin(stack, ADMIN, ADMIN_PASSWORD))
    name = f"bad-{uuid.uuid4().hex[:8]}"
    _group(name, [("One", ["+358401700001"]), ("Two", ["+358401700002"])])
    before = _callouts(stack)
    start = ["callout", "start", "--tenant", "demo"]
    for args, field in (
        (["--group", "no-such-group", "--message", "x"], "group: no group"),
        (["--group", name, "--message", "   "], "message: required"),
        (["--group", name, "--message", "x", "--needed", "3"], "needed: 3 confirmations"),
        (["--group", name, "--message", "x", "--wait", "0"], "wait: must be more than 0"),
        (["--group", name, "--message", "x", "--wait=-5m"], "wait: must be more than 0"),
        (["--group", name, "--message", "x", "--wait", "soon"], "wait: a duration"),
        (["--group", name, "--message", "x", "--escalate-to", "nope"], "escalate_to: no group"),
    ):
        done = linja(*start, *args)
        assert done.returncode == 2, (args, done.stdout, done.stderr)
        assert field in done.stderr, (field, done.stderr)
    # A bad number is refused when the member is added...
    bad = linja(
        "group", "add-member", "--tenant", "demo", "--group", name, "--name", "Bad",
        "--number", "+358401700003", "--number", "12345",
    )  # fmt: skip
    assert bad.returncode == 2 and "numbers[1]" in bad.stderr, bad.stderr
    assert ok("group", "show", "--tenant", "demo", "--group", name).count("\n") == 2
    # ... and one stored by other means stops the start.
    sql(
        stack,
        "INSERT INTO staff_group_members (id, group_id, name, phone_number) SELECT $1, id,"
        " 'Legacy', '12345' FROM staff_groups WHERE name = $2",
        uuid.uuid4(),
        name,
    )
    done = linja(*start, "--group", name, "--message", "x")
    assert done.returncode == 2 and "member 'Legacy': bad number" in done.stderr, done.stderr

    status, problem = _api(
        callout_controller,
        "POST",
        "/api/callouts",
        {"group": "no-such-group", "message": "", "needed": 0, "wait": "0s"},
    )
    assert status == 400, problem
    assert {"group", "message", "needed", "wait"} <= set(problem["errors"]), problem
    status, problem = _api(
        callout_controller, "POST", "/api/callouts", {"group": name, "message": "x", "wait": -1}
    )
    assert status == 400 and "wait" in problem["errors"], problem
    status, problem = _api(
        callout_controller, "POST", "/api/callouts", {"group": name, "messag": "x"}
    )
    assert status == 400 and problem["errors"] == {"messag": "unknown field"}, problem
    # An uploaded message must be audio (base64 in the JSON body), 0.1 s to 5 min long.
    for audio, error in (
        ("not base64!", "base64 of an audio file"),
        (base64.b64encode(b"just some text").decode(), "unreadable audio"),
        (base64.b64encode(silence(0.05)).decode(), "shorter than 0.1 s"),
    ):
        status, problem = _api(
            callout_controller, "POST", "/api/callouts", {"group": name, "audio": audio}
        )
        assert status == 400 and error in problem["errors"].get("audio", ""), problem
    long = tmp_path / "long.wav"
    long.write_bytes(silence(301))
    done = linja(*start, "--group", name, "--audio", str(long))
    assert done.returncode == 2 and "audio: 301 s long: at most 300 s" in done.stderr, done.stderr
    assert _callouts(stack) == before  # nothing started


def test_kill_9_mid_callout_a_restarted_controller_completes_it(
    stack: Settings, tmp_path: Path, member_port: int
) -> None:
    _end_running(stack)
    env = {**_env(member_port), "LINJA_CALLOUT_PLAYS": "1", "LINJA_CALLOUT_TAKEOVER_GRACE": "2"}
    name = f"kill-{uuid.uuid4().hex[:8]}"
    first, last = "+358401800001", "+358401800041"
    machines = ["+358401800013", "+358401800023", "+358401800033"]
    _group(
        name,
        [
            ("First", [first]),
            *((f"Machine {i}", [n]) for i, n in enumerate(machines)),
            ("Last", [last]),
        ],
    )
    members = Members(tmp_path / "members", member_port, calls=1 + 3 * 2 + 1)
    ctl = Controller(stack, tmp_path / "controller-1.log", env=env)
    ctl.start()
    restarted: Controller | None = None
    try:
        callout_id = ok(
            "callout", "start", "--tenant", "demo", "--group", name, "--message", "Hälytys.",
            "--needed", "2", "--wait", "4s", "--max-parallel", "3", "--max-attempts", "2",
            "--retry-delay", "1s", "--ring", "5s", "--language", "fi",
        )  # fmt: skip

        def three_up() -> bool:
            ev = members.events()
            up = {c for c, n, what, _ in ev if what == "answered" and n in machines}
            return len(up - {c for c, _, what, _ in ev if what == "end"}) == 3

        wait_for("three machine calls up", three_up, timeout=60, step=0.2)
        ctl.kill()  # kill -9: no cleanup, leases and legs left behind
        restarted = Controller(stack, tmp_path / "controller-2.log", env=env)
        restarted.start()
        done = _wait_ended(stack, callout_id, timeout=150)
        wait_for("no channels left", lambda: ari_get(stack, "/channels") == [], timeout=15)
    finally:
        if restarted is not None:
            restarted.stop()
        ctl.stop()
        members.close()
        _end_running(stack)
    assert done["status"] == "confirmed"
    invites = members.invites()
    assert invites[first] == 1  # confirmed before the crash: never called again
    # Interrupted, then perhaps once more (the call-out may reach N = 2 first).
    assert all(1 <= invites[n] <= 2 for n in machines), invites
    assert invites[last] == 1
    assert members.overlapping_calls_to_one_number() == []  # nobody twice at once
    assert members.peak() <= 3
    report = json.loads(ok("callout", "report", callout_id, "--format", "json"))
    outcomes = {m["name"]: [a["outcome"] for a in m["attempts"]] for m in report["members"]}
    assert outcomes["First"] == ["confirmed"] and outcomes["Last"] == ["confirmed"]
    for i, number in enumerate(machines):
        tried = outcomes[f"Machine {i}"]
        # A last attempt ended because the call-out was done may not have rung yet.
        rang = len(tried) - (tried[-1] == "ended" and len(tried) > invites[number])
        # Cut off by the kill after the member answered: closed as answered by the takeover
        # or the orphaned leg's hang-up (interrupted if the answer was not stored yet).
        assert tried[0] in ("answered", "interrupted"), outcomes
        assert rang == invites[number], (outcomes, invites)
        assert set(tried[1:]) <= {"machine", "ended"}, outcomes
    log = restarted.log() if restarted is not None else ""
    # The dead controller's legs (in AMD or its message) are hung up by the restarted one:
    # when they come back into Stasis, or when it takes their lease over.
    assert (
        "member leg without its controller: hanging up" in log or "left by a dead controller" in log
    ), log
    assert restarted is not None and "Traceback" not in restarted.log()


def test_member_data_under_the_subject_rights_restrict_export_erase(
    stack: Settings, callout_controller: Controller, tmp_path: Path, member_port: int
) -> None:
    asyncio.run(ensure_demo_admin(stack, ADMIN, ADMIN_PASSWORD))
    # Numbers of this run alone: the cluster outlives a run, and an earlier run cut short
    # before its erasure would leave a member with the same number (erased here too). The
    # last digit stays 1: it tells the members' UAS to answer and confirm (2-5 would not).
    suffix = random.randrange(1_000)
    restricted, other = f"+35840190{suffix:03d}1", f"+35840191{suffix:03d}1"
    who = ["--tenant", "demo", "--phone", "0" + restricted[4:], "--by", ADMIN]
    linja("subject", "unrestrict", *who)  # an earlier run's, if any
    name = f"rights-{uuid.uuid4().hex[:8]}"
    _group(name, [("Restricted Member", [restricted]), ("Other Member", [other])])
    ok("subject", "restrict", *who, "--reason", "objection")
    # Under load the UAS's "hello" can reach AMD late enough to sound like a machine: a
    # retry 2 s later must then be answered too (the count of attempts is not this test's).
    members = Members(tmp_path / "members", member_port, calls=3)
    try:
        callout_id = ok(
            "callout", "start", "--tenant", "demo", "--group", name, "--message", "Hälytys.",
            "--needed", "1", "--ring", "20s", "--language", "fi", "--retry-delay", "2s",
        )  # fmt: skip
        done = _wait_ended(stack, callout_id, timeout=60)
    finally:
        members.close()
        linja("subject", "unrestrict", *who)
    assert done["status"] == "confirmed"
    assert set(dict(members.invites())) == {other}  # the restricted member was never dialled
    tries = dict(members.invites())[other]
    report = json.loads(ok("callout", "report", callout_id, "--format", "json"))
    states = {m["name"]: (m["state"], len(m["attempts"])) for m in report["members"]}
    assert states == {"Restricted Member": ("failed", 0), "Other Member": ("confirmed", tries)}

    # Export shows the membership (no PIN hash) and the calls to the number.
    out = tmp_path / "out"
    out.mkdir()
    exported = ok("subject", "export", "--tenant", "demo", "--phone", other, "--by", ADMIN,
                  "--out", str(out))  # fmt: skip
    doc = json.loads(
        (Path(exported.split("exported to ", 1)[1].split(":", 1)[0]) / "subject.json").read_text()
    )
    (membership,) = [m for m in doc["staff_memberships"] if m["group"] == name]
    assert membership["name"] == "Other Member" and membership["numbers"] == [other]
    assert "pin_hash" not in membership
    assert [a["outcome"] for a in doc["callout_attempts"] if a["number"] == other][-1:] == [
        "confirmed"
    ]

    # Erasure removes the member and blanks the number; the call-out keeps its outcomes; the
    # erasure ledger counts both.
    ok("subject", "erase", "--tenant", "demo", "--phone", other, "--by", ADMIN)
    (entry,) = sql(
        stack,
        "SELECT counts FROM erasure_ledger ORDER BY performed_at DESC LIMIT 1",
    )
    counts = json.loads(entry["counts"]) if isinstance(entry["counts"], str) else entry["counts"]
    assert counts["staff_members"] == 1 and counts["callout_attempts"] == tries, counts
    shown = ok("group", "show", "--tenant", "demo", "--group", name)
    assert "Other Member" not in shown and other not in shown
    after = json.loads(ok("callout", "report", callout_id, "--format", "json"))
    erased = [m for m in after["members"] if m["state"] == "confirmed"]
    assert erased[0]["name"] is None and erased[0]["attempts"][0]["number"] is None
    assert after["totals"]["confirmed"] == 1


def test_two_controllers_share_the_total_cap_and_call_each_member_once(
    stack: Settings, tmp_path: Path, member_port: int
) -> None:
    """The total cap (2) is held in Postgres: two controllers on one database never have
    more than 2 calls up together, though the call-out alone would allow 4."""
    _end_running(stack)
    env = {**_env(member_port), "LINJA_CALLOUT_TOTAL_CAP": "2"}
    state_b = tmp_path / "state-b"
    state_b.mkdir()
    for f in ("secrets.json", "agent-sip.json", "flows.json"):
        if (stack.state_dir / f).exists():
            shutil.copy(stack.state_dir / f, state_b / f)
    http_b = free_udp_port()
    settings_b = stack.model_copy(update={"http_port": http_b, "state_dir": state_b})
    env_b = {
        **env,
        "LINJA_STATE_DIR": str(state_b),
        "LINJA_HTTP_PORT": str(http_b),
        "LINJA_ARI_APP": "linja-b",
    }
    name = f"two-{uuid.uuid4().hex[:8]}"
    numbers = [f"+35840150{i:03d}1" for i in range(6)]
    _group(name, [(f"Member {i}", [n]) for i, n in enumerate(numbers)])
    members = Members(tmp_path / "members", member_port, calls=len(numbers))
    a = Controller(stack, tmp_path / "controller-a.log", env=env)
    b = Controller(settings_b, tmp_path / "controller-b.log", env=env_b)
    a.start()
    b.start()
    try:
        callout_id = ok(
            "callout", "start", "--tenant", "demo", "--group", name, "--message", "Hälytys.",
            "--needed", str(len(numbers)), "--max-parallel", "4", "--ring", "5s",
            "--language", "fi",
        )  # fmt: skip
        done = _wait_ended(stack, callout_id, timeout=120)
    finally:
        b.stop()
        a.stop()
        members.close()
        _end_running(stack)
    assert done["status"] == "confirmed"
    assert dict(members.invites()) == dict.fromkeys(numbers, 1)
    peak = members.peak()
    print("peak at the UAS with two controllers, total cap 2:", peak)
    assert peak == 2
    by = sql(
        stack,
        "SELECT a.controller, count(*) AS n FROM callout_attempts a JOIN callout_members m"
        " ON m.id = a.callout_member_id WHERE m.callout_id = $1 GROUP BY a.controller",
        uuid.UUID(callout_id),
    )
    print("attempts by controller:", {r["controller"]: r["n"] for r in by})
    assert sum(r["n"] for r in by) == len(numbers)


def _get(ctl: Controller, path: str) -> tuple[int, str]:
    req = urllib.request.Request(ctl.url(path), headers=basic_auth(ADMIN, ADMIN_PASSWORD))
    with urllib.request.urlopen(req, timeout=10) as resp:
        return resp.status, resp.read().decode()


def test_api_groups_and_a_cancelled_callout_ends_its_calls_politely(
    stack: Settings, callout_controller: Controller, tmp_path: Path, member_port: int
) -> None:
    asyncio.run(ensure_demo_admin(stack, ADMIN, ADMIN_PASSWORD))
    ctl = callout_controller
    name = f"api-{uuid.uuid4().hex[:8]}"
    status, group = _api(ctl, "POST", "/api/groups", {"name": name})
    assert status == 201, group
    status, member = _api(
        ctl,
        "POST",
        f"/api/groups/{group['id']}/members",
        {"name": "Machine", "numbers": ["040 160 0093"], "kind": "partner"},
    )
    assert status == 201, member
    status, problem = _api(
        ctl, "POST", f"/api/groups/{group['id']}/members", {"name": "X", "numbers": ["12"]}
    )
    assert status == 400 and "numbers[0]" in problem["errors"], problem
    _, shown = _get(ctl, f"/api/groups/{group['id']}")
    (m,) = json.loads(shown)["members"]
    assert m["numbers"] == ["+358401600093"] and m["kind"] == "partner" and m["position"] == 1

    members = Members(tmp_path / "members", member_port, calls=1)
    try:
        upload = base64.b64encode(silence(1.5)).decode()  # the message as uploaded audio
        status, started = _api(
            ctl, "POST", "/api/callouts",
            {"group": name, "audio": upload, "needed": 1, "ring": "5s", "language": "fi"},
        )  # fmt: skip
        assert status == 201, started
        wait_for(
            "the member to answer",
            lambda: any(what == "answered" for _, _, what, _ in members.events()),
            timeout=30,
        )
        cancel_at = time.time()
        status, cancelled = _api(ctl, "POST", f"/api/callouts/{started['id']}/cancel", {})
        assert status == 200 and cancelled["status"] == "cancelled", cancelled
        wait_for(
            "the call to end",
            lambda: any(what == "end" for _, _, what, _ in members.events()),
            timeout=20,
        )
    finally:
        members.close()
    ended = next(at for _, _, what, at in members.events() if what == "end")
    status, again = _api(ctl, "POST", f"/api/callouts/{started['id']}/cancel", {})
    assert status == 409, again
    _, body = _get(ctl, f"/api/callouts/{started['id']}")
    report = json.loads(body)
    assert report["status"] == "cancelled" and report["audio"] is True
    (attempt,) = report["members"][0]["attempts"]
    assert attempt["outcome"] == "ended" and attempt["key"] is None
    # Up when cancelled, ended after "this call-out has ended" (~3 s), not after the message.
    assert 0 < ended - cancel_at < 8, ended - cancel_at
    _, csv_text = _get(ctl, f"/api/callouts/{started['id']}?format=csv")
    assert csv_text.splitlines()[1].split(",")[2:4] == ["pending", "1"]
    log = ctl.log()
    assert "call-out ended: call closed" in log


def test_escalation_group_is_called_once_the_group_is_exhausted(
    stack: Settings, callout_controller: Controller, tmp_path: Path, member_port: int
) -> None:
    declines, confirms = "+358401600204", "+358401600211"
    first, second = f"esc-a-{uuid.uuid4().hex[:6]}", f"esc-b-{uuid.uuid4().hex[:6]}"
    _group(first, [("Declines", [declines])])
    _group(second, [("Declines Again", [declines]), ("Partner", [confirms])])  # one person twice
    members = Members(tmp_path / "members", member_port, calls=2)
    try:
        callout_id = ok(
            "callout", "start", "--tenant", "demo", "--group", first, "--escalate-to", second,
            "--message", "Hälytys.", "--needed", "1", "--ring", "5s", "--language", "fi",
        )  # fmt: skip
        done = _wait_ended(stack, callout_id, timeout=60)
    finally:
        members.close()
    assert done["status"] == "confirmed" and done["escalated_at"] is not None
    assert dict(members.invites()) == {declines: 1, confirms: 1}
    report = json.loads(ok("callout", "report", callout_id, "--format", "json"))
    assert [(m["name"], m["escalation"], m["state"]) for m in report["members"]] == [
        ("Declines", False, "declined"),
        ("Partner", True, "confirmed"),
    ]
