"""`linja bulletin` against the real database: bad input is refused with exit 2 and one
line, and changes nothing."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

import pytest

from ivr.config import Settings, project_root
from ivr.demo import DEMO_NUMBER
from storage.db import make_engine, session_factory
from storage.repositories.bulletins import BulletinRepository

pytestmark = pytest.mark.integration


def linja(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ivr.cli", *args],
        capture_output=True,
        text=True,
        cwd=project_root(),
        timeout=60,
        check=False,
    )


async def _all_bulletins(settings: Settings) -> list[tuple[str, str | None]]:
    from datetime import UTC, datetime

    engine = make_engine(settings, pool_size=1)
    try:
        views = await BulletinRepository(session_factory(engine)).listing(
            include_ended=True, now=datetime.now(UTC)
        )
        return [(str(v.id), str(v.cleared_at)) for v in views]
    finally:
        await engine.dispose()


@pytest.fixture
def junk_audio(tmp_path: Path) -> Path:
    path = tmp_path / "broken.wav"
    path.write_bytes(b"RIFF\x00\x00\x00\x00WAVEjunkjunkjunk" * 10)
    return path


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--number", "999", "--text", "x"], "unknown service number '999'"),
        (["--number", DEMO_NUMBER, "--text", "   "], "--text is empty"),
        (["--number", DEMO_NUMBER], "give --text or --audio"),
        (["--number", DEMO_NUMBER, "--text", "x", "--language", "de"], "--language"),
        (
            [
                "--number",
                DEMO_NUMBER,
                "--text",
                "x",
                "--starts-at",
                "2030-01-02T10:00",
                "--ends-at",
                "2030-01-02T09:00",
            ],
            "is not after start",
        ),
        (["--number", DEMO_NUMBER, "--text", "x", "--ends-at", "yesterday"], "not an ISO time"),
        (["--number", DEMO_NUMBER, "--text", "x", "--for", "0h"], "not a duration"),
        (["--number", DEMO_NUMBER, "--audio", "/nonexistent/a.wav"], "No such file"),
        (["--number", DEMO_NUMBER, "--audio", "JUNK"], "unreadable audio"),
    ],
)
def test_bad_bulletin_input_is_refused_and_changes_nothing(
    stack: Settings, junk_audio: Path, args: list[str], message: str
) -> None:
    args = [str(junk_audio) if a == "JUNK" else a for a in args]
    before = asyncio.run(_all_bulletins(stack))
    proc = linja("bulletin", "set", *args)
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], proc.stderr
    assert asyncio.run(_all_bulletins(stack)) == before


def test_set_list_and_clear_a_bulletin(stack: Settings, tmp_path: Path) -> None:
    audio = tmp_path / "notice.wav"
    subprocess.run(
        ["sox", "-n", "-r", "16000", "-c", "2", str(audio), "synth", "1.5", "sine", "440"],
        check=True,
    )
    proc = linja(
        "bulletin",
        "set",
        "--number",
        DEMO_NUMBER,
        "--audio",
        str(audio),
        "--text",
        "Testitiedote",
        "--starts-at",
        "2031-01-01T08:00+02:00",
        "--for",
        "2h",
    )
    assert proc.returncode == 0, proc.stderr
    bulletin_id = proc.stdout.split()[1]
    listing = linja("bulletin", "list", "--number", DEMO_NUMBER)
    line = next(ln for ln in listing.stdout.splitlines() if ln.startswith(bulletin_id))
    assert "upcoming" in line and "[audio]" in line and "2031-01-01T06:00:00+00:00" in line
    cleared = linja("bulletin", "clear", "--number", DEMO_NUMBER, "--id", bulletin_id)
    assert cleared.returncode == 0 and "cleared 1 bulletin" in cleared.stdout
    listing = linja("bulletin", "list", "--number", DEMO_NUMBER)
    assert bulletin_id not in listing.stdout
    assert linja("bulletin", "clear", "--number", DEMO_NUMBER, "--id", "nope").returncode == 2
