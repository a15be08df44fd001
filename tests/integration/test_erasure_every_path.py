"""Issue 17, item 2: after an erasure nothing of the person is left anywhere.

One person (their own phone number and e-mail, used by no other test) reaches the service
through every path on the real stack: a recorded call to an agent (SIPp caller and agent),
a callback request with a voice message, an SMS to the intake webhook that names their
e-mail, a conversion of the recording to mp3 for listening, an API export bundle, and a
case row the database refuses (the recorder's rejected spool). Then `linja subject erase`
(with the number spelled differently). Afterwards the state directory, the audio store,
Asterisk's instance directory, the controller's and Postgres's logs and every table are
searched for the number and the e-mail in any spelling: nothing is found.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import re
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from ivr.config import Settings
from storage.casewriter import PgCaseWriter
from storage.db import make_engine
from storage.events import CaseOpened, Channel
from storage.recorder import CaseRecorder
from storage.spool import Spool
from tests.integration.test_callbacks import _close_open_requests as close_open_requests
from tests.support import (
    SCENARIOS,
    AgentPhone,
    Controller,
    basic_auth,
    ensure_demo_admin,
    project_root,
    run_sipp,
    sql,
    table_texts,
    wait_for,
)

pytestmark = pytest.mark.integration

MENU = "200"
ADMIN = "erase-all-admin"
ADMIN_PASSWORD = "test-" + uuid.uuid4().hex
PERSON = "0449876012"  # the person's phone: in no other test or scenario
PERSON_EMAIL = "Saara.Sammalisto@Esimerkki.FI"
# Every spelling of the number contains one of these (0449876012, +358449876012,
# 00358449876012, 044 987 6012, 044-987 6012, 44 9876 012 ...), and so does the e-mail.
NEEDLES = (
    re.compile(rb"9876012|987[ -]?6012|9876[ -]?012"),
    re.compile(rb"saara\.sammalisto", re.IGNORECASE),
)


def _scenario(tmp_path: Path, name: str) -> str:
    """A copy of a SIPp scenario whose caller is the person (From and Contact)."""
    text = (SCENARIOS / name).read_text().replace("0401234567", PERSON)
    path = tmp_path / f"person-{name}"
    path.write_text(text)
    return str(path)


def _api(
    ctl: Controller, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None
) -> tuple[int, bytes]:
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(
        ctl.url(path),
        data=data,
        method=method,
        headers={
            **basic_auth(ADMIN, ADMIN_PASSWORD),
            **({"Content-Type": "application/json"} if data is not None else {}),
            **(headers or {}),
        },
    )
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def _linja(stack: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ivr.cli", *args],
        env=dict(os.environ),
        cwd=project_root(),
        capture_output=True,
        text=True,
        timeout=120,
    )


def _database_bytes(stack: Settings) -> dict[str, bytes]:
    return {table: text.encode() for table, text in asyncio.run(table_texts(stack)).items()}


def _found_in_files(*roots: Path) -> list[str]:
    """Files under ``roots`` whose bytes hold the person's number or e-mail."""
    hits: list[str] = []
    for root in roots:
        if not root.exists():
            continue
        paths = [root] if root.is_file() else (p for p in root.rglob("*") if p.is_file())
        for path in paths:
            if path.is_symlink() or path.stat().st_size > 200 * 1024 * 1024:
                continue
            try:
                data = path.read_bytes()
            except OSError:  # a socket, a file another process just removed
                continue
            if any(n.search(data) for n in NEEDLES):
                hits.append(str(path))
    return hits


@pytest.fixture
def serving(stack: Settings, controller: Controller) -> Iterator[Controller]:
    asyncio.run(ensure_demo_admin(stack, ADMIN, ADMIN_PASSWORD))
    close_open_requests(stack)  # (no agent may be offered an earlier test's callback)
    try:
        yield controller
    finally:
        for agent in ("agent1", "agent2", "agent3"):
            _api(controller, "POST", f"/api/agents/{agent}/logout")


def _recorded_call(stack: Settings, ctl: Controller, tmp_path: Path) -> None:
    """The person picks the recorded desk queue (5) and talks to agent2."""
    assert _api(ctl, "POST", "/api/agents/agent2/login")[0] == 200
    phone = AgentPhone(stack, "agent2", "agent-answers-and-talks.xml", tmp_path, talk_ms=3000)
    try:
        with ThreadPoolExecutor(1) as pool:
            caller = pool.submit(
                run_sipp, _scenario(tmp_path, "caller-talks-to-agent.xml"), tmp_path / "desk",
                service=MENU, settings=stack, timeout=60,
                extra=["-key", "digit", "5", "-d", "3000"],
            )  # fmt: skip
            result = caller.result(timeout=90)
        code, out = phone.wait()
    finally:
        phone.close()
        _api(ctl, "POST", "/api/agents/agent2/logout")
    assert result.returncode == 0, result.output + result.errors
    assert code == 0, out


def _callback_with_message(stack: Settings, tmp_path: Path) -> None:
    """No agent is logged in: the request stays open, with the person's voice message."""
    caller = run_sipp(
        _scenario(tmp_path, "caller-asks-for-callback-with-message.xml"), tmp_path / "cb",
        service=MENU, settings=stack, timeout=60, extra=["-key", "digit", "3", "-d", "2000"],
    )  # fmt: skip
    assert caller.returncode == 0, caller.output + caller.errors


def _sms(stack: Settings, ctl: Controller) -> None:
    token = _linja(stack, "intake", "token", "add", "--tenant", "demo")
    assert token.returncode == 0, token.stderr
    status, body = _api(
        ctl,
        "POST",
        "/api/intake/demo/sms",
        {"phone": "+358 44 987 6012", "message": f"Soittakaa, tai {PERSON_EMAIL}", "to": "100"},
        headers={"Authorization": f"Bearer {token.stdout.strip()}"},
    )
    assert status in (200, 201, 202), body


async def _refused_case_row(stack: Settings, spool_dir: Path) -> int:
    """The person's case row, refused by the database (its tenant does not exist), through
    the real recorder: what lands in rejected.jsonl and the log."""
    engine = make_engine(stack, owner=True, pool_size=1)
    try:
        recorder = CaseRecorder(PgCaseWriter(engine), Spool(spool_dir, 10**6), linger=0)
        await recorder.start()
        recorder.emit(
            CaseOpened(
                uuid.uuid4(), uuid.uuid4(), Channel.PHONE, datetime.now(UTC),
                caller_number="+358449876012", caller_email=PERSON_EMAIL,
            )
        )  # fmt: skip
        await recorder.close()
        return recorder.stats().rejected
    finally:
        await engine.dispose()


def test_i17_2_an_erased_person_is_found_nowhere(
    stack: Settings, serving: Controller, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    since = datetime.now(UTC)
    _recorded_call(stack, serving, tmp_path)
    _callback_with_message(stack, tmp_path)
    _sms(stack, serving)

    cases = wait_for(
        "the person's two ended calls",
        lambda: (
            rows
            if len(
                rows := sql(
                    stack,
                    "SELECT id FROM cases WHERE caller_number = $2 AND service_number = $3"
                    " AND started_at >= $1 AND ended_at IS NOT NULL",
                    since,
                    PERSON,
                    MENU,
                )
            )
            == 2
            else None
        ),
        timeout=20,
    )
    case_ids = [r["id"] for r in cases]
    (rec,) = wait_for(
        "the recording row",
        lambda: sql(stack, "SELECT id FROM recordings WHERE case_id = ANY($1)", case_ids) or None,
        timeout=15,
    )
    wait_for(
        "the voice message row",
        lambda: (
            sql(stack, "SELECT id FROM voice_messages WHERE case_id = ANY($1)", case_ids) or None
        ),
        timeout=15,
    )
    # Listening in the browser's format makes a converted copy; an export makes a bundle.
    status, audio = _api(serving, "GET", f"/api/recordings/{rec['id']}/audio?format=mp3")
    assert status == 200 and len(audio) > 1000, (status, audio[:200])
    status, body = _api(
        serving, "POST", "/api/subjects/export", {"tenant": "demo", "phone": PERSON}
    )
    assert status == 200, body
    exported = json.loads(body)
    assert exported["audio_files"] >= 2 and Path(exported["bundle"]).exists()
    spool_dir = stack.state_dir / "spool" / f"erase-test-{uuid.uuid4().hex[:8]}"
    try:
        assert asyncio.run(_refused_case_row(stack, spool_dir)) == 1
        # Before: the person is there (so the search below can find them).
        before = _database_bytes(stack)
        assert any(NEEDLES[0].search(t) for t in before.values())
        assert any(NEEDLES[1].search(t) for t in before.values())
        assert _found_in_files(stack.audio_store_dir) == []  # audio never names them ...
        assert _found_in_files(Path(exported["bundle"]))  # ... but the export does

        erased = _linja(
            stack, "subject", "erase", "--tenant", "demo", "--phone", "+358 44 987 6012",
            "--by", ADMIN, "--ref", "DPO-1",
        )  # fmt: skip
        assert erased.returncode == 0, erased.stdout + erased.stderr
        erased_email = _linja(
            stack, "subject", "erase", "--tenant", "demo", "--email", PERSON_EMAIL.lower(),
            "--by", ADMIN,
        )  # fmt: skip
        assert erased_email.returncode == 0, erased_email.stdout + erased_email.stderr
        time.sleep(1.0)  # let the controller write what it was writing

        after = _database_bytes(stack)
        in_tables = sorted(t for t, text in after.items() if any(n.search(text) for n in NEEDLES))
        assert in_tables == [], in_tables
        asterisk = stack.in_root(stack.asterisk_prefix or "/")  # its logs, spool, our sounds
        files = _found_in_files(
            stack.state_dir,
            stack.audio_store_dir,
            *(asterisk / d for d in ("var/log/asterisk", "var/spool/asterisk", "var/lib/linja")),
            stack.pg_home / "postgres.log",
            serving.log_path,
        )
        assert files == [], files
        assert not any(n.search(caplog.text.encode()) for n in NEEDLES)  # the recorder's log
        (gone,) = sql(stack, "SELECT deleted_at FROM recordings WHERE id = $1", rec["id"])
        assert gone["deleted_at"] is not None
        assert not Path(exported["bundle"]).exists()
    finally:
        shutil.rmtree(spool_dir, ignore_errors=True)
