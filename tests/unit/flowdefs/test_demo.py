"""The shipped demo flow file loads into the expected definitions; the project's own
dialplan directory validates."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime, time
from pathlib import Path

import pytest

from ivr.config import project_root
from ivr.flowdefs import is_open, load_definitions, read_snapshot, write_snapshot
from ivr.flowdefs.model import (
    CallbackConfig,
    Menu,
    Prompt,
    Queue,
    RecordingConfig,
    Target,
    TenantFlows,
    VoicemailConfig,
)
from tests.unit.flowdefs.support import run_cli

DIALPLAN = project_root() / "dialplan"


@pytest.fixture
def demo_dir(tmp_path: Path) -> Path:
    (tmp_path / "flows").mkdir()
    shutil.copy(DIALPLAN / "flows" / "demo.toml", tmp_path / "flows" / "demo.toml")
    (tmp_path / "linja.conf").write_text(
        "[linja-inbound]\n"
        "exten => 100,1,Stasis(linja,announcement,demo)\n"
        "exten => 200,1,Stasis(linja,menu,demo)\n"
    )
    return tmp_path


def test_demo_definitions(demo_dir: Path) -> None:
    demo = load_definitions(demo_dir)["demo"]
    assert demo == TenantFlows(
        tenant="demo",
        language="fi",
        entry="main",
        prompts={
            "welcome": Prompt(
                "welcome",
                text="Tervetuloa. Myynti 1, tuki 2, takaisinsoitto 3, viesti 4, palvelupiste 5, "
                "häiriötiedote 9.",
            ),
            "invalid": Prompt("invalid", text="Valintaa ei tunnistettu. Valitse uudelleen."),
            "no_input": Prompt("no_input", text="En kuullut valintaasi."),
            "goodbye": Prompt("goodbye", text="Kiitos soitostasi. Näkemiin."),
            "closed": Prompt(
                "closed",
                text="Olemme suljettu. Palvelemme arkisin kello kahdeksasta kuuteentoista.",
            ),
            "position": Prompt("position", text="Olet jonossa sijalla"),
        },
        menus={
            "main": Menu(
                name="main",
                prompt="welcome",
                options={
                    "1": Target("queue", "sales"),
                    "2": Target("queue", "support"),
                    "3": Target("callback", "support"),
                    "4": Target("voicemail", "support"),
                    "5": Target("queue", "desk"),
                    "9": Target("bulletin", "100"),
                },
                max_digits=1,
                first_digit_timeout=5.0,
                inter_digit_timeout=2.0,
                retries=3,
                invalid_prompt="invalid",
                no_input_prompt="no_input",
                failure_target=Target("hangup", "goodbye"),
            )
        },
        queues={
            "sales": Queue(
                name="sales",
                agents=("agent1", "agent2"),
                strategy="longest-idle",
                ring_timeout=6.0,
                announce_interval=8.0,
                overflow=Target("hangup", "goodbye"),
                position_prompt="position",
            ),
            "support": Queue(
                name="support",
                agents=("agent1", "agent2", "agent3"),
                strategy="ring-all",
                overflow=Target("hangup", "goodbye"),
                position_prompt="position",
                callback=CallbackConfig(
                    offer_in_queue=True,
                    max_attempts=3,
                    retry_delay=60.0,
                    ring_timeout=20.0,
                    message=True,
                ),
            ),
            "desk": Queue(
                name="desk",
                agents=("agent1", "agent2", "agent3"),
                strategy="ring-all",
                ring_timeout=10.0,
                overflow=Target("hangup", "goodbye"),
                position_prompt="position",
                record=True,
                service_level_threshold=30.0,
            ),
        },
        hours=demo.hours,
        source=str((demo_dir / "flows" / "demo.toml").resolve()),
        recording=RecordingConfig(
            replay_on_transfer=False, numbers=("201",), transcript_language="auto"
        ),
        voicemail=VoicemailConfig(max_length=60.0, max_silence=5.0),
    )
    assert demo.hours is not None
    assert demo.hours.timezone == "Europe/Helsinki"
    assert demo.hours.closed_target == Target("hangup", "closed")
    assert demo.hours.week == {day: ((time(0, 0), time.max),) for day in range(7)}
    assert is_open(demo.hours, datetime(2025, 12, 25, 3, 0, tzinfo=UTC))  # open 24/7


def test_snapshot_round_trip(demo_dir: Path, tmp_path: Path) -> None:
    flows = load_definitions(demo_dir)
    write_snapshot(tmp_path / "state" / "flows.json", flows)
    assert read_snapshot(tmp_path / "state" / "flows.json") == flows


def test_the_projects_dialplan_directory_validates(capsys: pytest.CaptureFixture[str]) -> None:
    assert "demo" in load_definitions(DIALPLAN)
    assert run_cli("check") == 0
    out = capsys.readouterr().out
    assert out.startswith(f"{DIALPLAN}: OK, ")
    assert "tenant(s): demo" in out
