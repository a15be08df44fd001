"""Recording and voicemail settings in a tenant file: defaults, values, and errors that name
file and line (BASE_FLOWS is 18 lines; what a test appends starts at line 19)."""

from __future__ import annotations

from pathlib import Path

from ivr.flowdefs import check_definitions, read_snapshot, write_snapshot
from ivr.flowdefs.model import RecordingConfig, VoicemailConfig
from tests.unit.flowdefs.conftest import MakeDir
from tests.unit.flowdefs.support import BASE_FLOWS


def errors_of(directory: Path) -> list[str]:
    return [str(e) for e in check_definitions(directory)[1]]


def test_without_settings_nothing_is_recorded(make_dir: MakeDir) -> None:
    flows, errors = check_definitions(make_dir())
    assert errors == []
    acme = flows["acme"]
    assert acme.recording == RecordingConfig()
    assert acme.voicemail == VoicemailConfig()
    assert acme.queues["sales"].record is False


def test_recording_and_voicemail_settings_load_and_survive_a_snapshot(
    make_dir: MakeDir, tmp_path: Path
) -> None:
    text = BASE_FLOWS + (
        "record = true\n"
        '\n[prompts.notice]\ntext = "Puhelu tallennetaan."\n'
        '\n[recording]\nnotice = "notice"\nreplay_on_transfer = true\nnumbers = ["200", "201"]\n'
        'transcript_language = "auto"\n'
        '\n[voicemail]\nmax_length = 30\nmax_silence = 0\nprompt = "welcome"\n'
    )
    text = text.replace('"1" = "queue:sales"\n', '"1" = "queue:sales"\n"2" = "voicemail:sales"\n')
    flows, errors = check_definitions(make_dir(flows={"acme": text}))
    assert errors == []
    acme = flows["acme"]
    assert acme.queues["sales"].record is True
    assert acme.recording == RecordingConfig("notice", True, ("200", "201"), "auto")
    assert acme.voicemail == VoicemailConfig(30.0, 0.0, "welcome", None)
    write_snapshot(tmp_path / "flows.json", flows)
    assert read_snapshot(tmp_path / "flows.json") == flows


def test_bad_recording_settings_name_file_and_line(make_dir: MakeDir) -> None:
    text = BASE_FLOWS + (
        'record = "yes"\n'  # 19
        "\n[recording]\n"  # 21
        'notice = "nosuch"\n'  # 22
        "replay_on_transfer = 1\n"  # 23
        'numbers = ["200", "2x", "200"]\n'  # 24
        "record_all = true\n"  # 25
        'transcript_language = "de"\n'  # 26
    )
    assert errors_of(make_dir(flows={"acme": text})) == [
        "flows/acme.toml:19: queue 'sales': 'record' must be true or false, not string",
        "flows/acme.toml:22: recording: notice: unknown prompt 'nosuch'",
        "flows/acme.toml:23: recording: 'replay_on_transfer' must be true or false, not integer",
        "flows/acme.toml:24: recording: number '200' is listed twice",
        "flows/acme.toml:24: recording: number '2x' is not a service number (digits)",
        "flows/acme.toml:25: recording: unknown key 'record_all'",
        "flows/acme.toml:26: recording: transcript_language 'de' is not one of fi, sv, en, auto",
    ]


def test_bad_voicemail_settings_name_file_and_line(make_dir: MakeDir) -> None:
    text = BASE_FLOWS + (
        "\n[voicemail]\n"  # 20
        "max_length = 3600\n"  # 21
        "max_silence = -1\n"  # 22
        'thanks = "nosuch"\n'  # 23
    )
    assert errors_of(make_dir(flows={"acme": text})) == [
        "flows/acme.toml:21: voicemail: 'max_length' must be at most 600 seconds, not 3600",
        "flows/acme.toml:22: voicemail: 'max_silence' must be at least 0, not -1",
        "flows/acme.toml:23: voicemail: thanks: unknown prompt 'nosuch'",
    ]


def test_recording_must_be_a_table(make_dir: MakeDir) -> None:
    text = BASE_FLOWS.replace('entry = "main"\n', 'entry = "main"\nrecording = true\n')
    assert errors_of(make_dir(flows={"acme": text})) == [
        "flows/acme.toml:4: recording must be a table, not boolean"
    ]
