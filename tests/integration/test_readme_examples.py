"""The README's examples run as written (issue 13): every ```sh block, against a fresh
database as `make run` leaves it (`linja demo seed` then `linja serve`).

Each block runs as one bash script (`set -e -o pipefail`, so a variable one line sets is
there for the next), from a directory holding the checkout's `.venv`, with a `.curlrc` that
makes curl fail on an HTTP error. What a newcomer would fill in is filled in the same way:
the README's ports become this test stack's, `ADMIN:PASSWORD` / `LOGIN:PASSWORD` the demo
admin and the password `linja demo seed` printed, `CASE_ID` / `ID` / `TENANT` a case, a
recording, a voice message or a request of the demo tenant. Syntax summaries (`[...]`,
`a | b`) belong in ```text blocks: one in a ```sh block fails the test. The few examples that
cannot run here are listed in ``NOT_HERE`` with the reason, and must still be in the README.
"""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest

from ivr.config import Settings
from recording.store import AudioStore
from storage.db import make_engine
from tests.integration.test_listening import seed_audio
from tests.support import Controller, fetch_rows, free_udp_port, project_root

pytestmark = pytest.mark.integration

README = project_root() / "README.md"
BLOCK = re.compile(r"^```sh\n(.*?)^```", re.S | re.M)
# `[--opt]`, `a | b` (but not a pipe into a command), `(--a | --b)`, `a|b`
SYNOPSIS = re.compile(r"\[--|\s\|\s(?!\.venv/|python3 )|\(--|\w\|\w")
# Examples that cannot run in this test, and why (each must still match a README line).
NOT_HERE = {
    "make run": "the test runs inside `make test`",
    "make test": "the test runs inside `make test`",
    "cat > dialplan/acme.conf": "writes the checkout's dialplan: test_management runs it on a copy",
    "/recording/pause": "needs a call being recorded: test_recording does it over SIPp",
    "/recording ": "needs a call being recorded: test_recording does it over SIPp",
    ".venv/bin/pytest": "a test command",
}


def blocks() -> list[str]:
    return [m.group(1) for m in BLOCK.finditer(README.read_text())]


def _exempt(block: str) -> str | None:
    for marker, why in NOT_HERE.items():
        if marker in block:
            return why
    return None


def _lines(block: str) -> list[str]:
    """The block's commands with continuation lines joined."""
    return [line for line in block.replace("\\\n", " ").splitlines() if line.strip()]


def test_sh_blocks_hold_examples_not_syntax() -> None:
    bad = [
        line for block in blocks() for line in _lines(block) if SYNOPSIS.search(line.split("#")[0])
    ]
    assert bad == [], "syntax summaries belong in ```text blocks:\n" + "\n".join(bad)
    text = README.read_text()
    stale = [marker for marker in NOT_HERE if marker not in text]
    assert stale == [], f"NOT_HERE names examples the README no longer has: {stale}"


async def _seed_audio(settings: Settings, tmp: Path) -> tuple[uuid.UUID, uuid.UUID, str, uuid.UUID]:
    engine = make_engine(settings, owner=True, pool_size=1)
    try:
        (row,) = await fetch_rows(settings, "SELECT id FROM tenants WHERE slug = 'demo'")
        tenant = row["id"]
        assert isinstance(tenant, uuid.UUID)
        return await seed_audio(engine, AudioStore(settings.audio_store_dir), tmp, tenant)
    finally:
        await engine.dispose()


def _run(script: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", "-c", "set -e -o pipefail\n" + script],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        errors="replace",  # an example may print audio
        timeout=180,
        stdin=subprocess.DEVNULL,
    )


def test_readme_examples_run_as_written(
    stack: Settings, scratch_db: Settings, tmp_path: Path
) -> None:
    settings = scratch_db
    # curl as a newcomer runs it, but an HTTP error is a failed command (CURL_HOME, not
    # HOME: linja finds its cache, the Asterisk root among it, under HOME).
    env = {**os.environ, "LINJA_DB_NAME": settings.db_name, "CURL_HOME": str(tmp_path)}
    (tmp_path / ".curlrc").write_text("--fail-with-body\n--silent\n--show-error\n")
    work = tmp_path / "work"
    work.mkdir()
    (work / ".venv").symlink_to(project_root() / ".venv")
    (work / "sipp-scenarios").symlink_to(project_root() / "sipp-scenarios")

    seeded = _run(".venv/bin/linja demo seed", env, work)
    assert seeded.returncode == 0, seeded.stdout + seeded.stderr
    found = re.search(r"demo admin created: login (\S+), password (\S+)", seeded.stdout)
    assert found, seeded.stdout + seeded.stderr  # a fresh database: printed, once
    login, password = found.groups()
    again = _run(".venv/bin/linja demo seed", env, work)
    assert password not in again.stdout + again.stderr  # never shown twice

    controller = Controller(
        settings, tmp_path / "controller.log", env={"LINJA_DB_NAME": settings.db_name}
    )
    controller.start()
    try:
        case_id, rec_id, location, vm_id = asyncio.run(_seed_audio(settings, tmp_path))
        slug_location = "demo/" + location.partition("/")[2]

        def newest_request() -> str:
            rows = asyncio.run(
                fetch_rows(settings, "SELECT id FROM contact_requests ORDER BY requested_at DESC")
            )
            return str(rows[0]["id"]) if rows else "no-request-yet"

        fills: list[tuple[str, Callable[[], str]]] = [
            ("127.0.0.1:8080", lambda: f"127.0.0.1:{settings.http_port}"),
            ("127.0.0.1:5060", lambda: f"127.0.0.1:{settings.sip_port}"),
            ("-p 16001", lambda: f"-p {free_udp_port()}"),
            ("ADMIN:PASSWORD", lambda: f"{login}:{password}"),
            ("LOGIN:PASSWORD", lambda: f"{login}:{password}"),
            (
                '"login":"LOGIN","password":"PASSWORD"',
                lambda: f'"login":"{login}","password":"{password}"',
            ),
            ("ADMIN_LOGIN", lambda: login),
            ("TENANT/recordings/2026/11/ID.wav", lambda: slug_location),
            ("CASE_ID", lambda: str(case_id)),
            ("recordings/ID", lambda: f"recordings/{rec_id}"),
            ("voice-messages/ID", lambda: f"voice-messages/{vm_id}"),
            ("requests/ID", lambda: f"requests/{newest_request()}"),
        ]
        ran = 0
        took: list[tuple[float, str]] = []
        for block in blocks():
            why = _exempt(block)
            if why is not None:
                print(f"not run here ({why}):\n{block}")
                continue
            script = block
            for placeholder, value in fills:
                if placeholder in script:
                    script = script.replace(placeholder, value())
            began = time.monotonic()
            done = _run(script, env, work)
            took.append((time.monotonic() - began, block.strip().splitlines()[0][:60]))
            assert done.returncode == 0, (
                f"README example failed (exit {done.returncode}):\n{block}\n--- ran:\n{script}"
                f"\n--- stdout:\n{done.stdout[-3000:]}\n--- stderr:\n{done.stderr[-3000:]}"
            )
            ran += len(_lines(block))
        print(f"{ran} README example lines ran; slowest blocks:")
        for seconds, first in sorted(took, reverse=True)[:8]:
            print(f"  {seconds:5.1f} s  {first}")
        assert ran >= 40
        assert "Traceback" not in controller.log()
    finally:
        controller.stop()
