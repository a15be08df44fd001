"""The controller's definitions: the published snapshot first, the files when it does not
read (an older version's snapshot, say)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ivr.flowdefs import check_definitions, write_snapshot
from ivr.flowdefs.live import LiveDefinitions
from tests.unit.flowdefs.conftest import MakeDir


def test_the_snapshot_is_served_rather_than_the_files(make_dir: MakeDir, tmp_path: Path) -> None:
    directory = make_dir()
    flows, _ = check_definitions(directory)
    published = {"other": flows["acme"]}
    write_snapshot(tmp_path / "flows.json", published)
    live = LiveDefinitions(directory, tmp_path / "flows.json")
    live.load()
    assert live.get("other") == flows["acme"] and live.get("acme") is None


def test_an_unreadable_snapshot_falls_back_to_the_files(
    make_dir: MakeDir, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    directory = make_dir()
    snapshot = tmp_path / "flows.json"
    snapshot.write_text(json.dumps({"version": 1, "tenants": {}}))
    live = LiveDefinitions(directory, snapshot)
    live.load()
    assert live.get("acme") == check_definitions(directory)[0]["acme"]
    assert "version 1, expected 2" in caplog.text
