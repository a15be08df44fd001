"""`linja dialplan reload` logic with a fake AMI and installer: a broken directory changes
nothing; a clean one installs, reloads, then writes the snapshot, in that order."""

from __future__ import annotations

import json
from pathlib import Path
from types import TracebackType

import pytest

from ivr.commands import UsageError
from ivr.commands.dialplan import (
    AmiError,
    ReloadTarget,
    reload_dialplan,
    reload_everywhere,
    reload_targets,
)
from ivr.config import Settings
from ivr.flowdefs import DefinitionErrors, read_snapshot
from ivr.stack import nodes
from tests.unit.flowdefs.conftest import MakeDir
from tests.unit.flowdefs.support import BROKEN_DIR, run_cli


class FakeAmi:
    def __init__(self, log: list[str], *, reachable: bool = True, name: str = "") -> None:
        self.log = log
        self.reachable = reachable
        self.suffix = f" {name}" if name else ""

    async def __aenter__(self) -> FakeAmi:
        if not self.reachable:
            raise AmiError("cannot reach AMI 127.0.0.1:5038: refused")
        self.log.append("connect" + self.suffix)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.log.append("close" + self.suffix)

    async def command(self, command: str) -> str:
        self.log.append(command + self.suffix)
        return "Dialplan reloaded."


async def test_a_broken_directory_touches_nothing(tmp_path: Path) -> None:
    log: list[str] = []
    snapshot = tmp_path / "flows.json"
    with pytest.raises(DefinitionErrors) as info:
        await reload_dialplan(
            BROKEN_DIR,
            app="linja",
            connect=lambda: FakeAmi(log),
            install=lambda source: log.append(f"install {source}"),
            snapshot=snapshot,
        )
    assert len(info.value.errors) == 37
    assert log == []
    assert not snapshot.exists()


async def test_a_clean_directory_installs_reloads_and_snapshots(
    make_dir: MakeDir, tmp_path: Path
) -> None:
    directory = make_dir()
    log: list[str] = []
    snapshot = tmp_path / "state" / "flows.json"
    flows = await reload_dialplan(
        directory,
        app="linja",
        connect=lambda: FakeAmi(log),
        install=lambda source: log.append(f"install {source}"),
        snapshot=snapshot,
    )
    assert log == ["connect", f"install {directory}", "dialplan reload", "close"]
    assert read_snapshot(snapshot) == flows
    assert sorted(flows) == ["acme"]


async def test_asterisk_unreachable_copies_nothing(make_dir: MakeDir, tmp_path: Path) -> None:
    log: list[str] = []
    with pytest.raises(AmiError):
        await reload_dialplan(
            make_dir(),
            app="linja",
            connect=lambda: FakeAmi(log, reachable=False),
            install=lambda source: log.append(f"install {source}"),
            snapshot=tmp_path / "flows.json",
        )
    assert log == []
    assert not (tmp_path / "flows.json").exists()


def test_cli_reload_of_a_broken_directory(capsys: pytest.CaptureFixture[str]) -> None:
    """Validation comes first: no Asterisk is contacted for a broken directory."""
    assert run_cli("reload", "--dir", str(BROKEN_DIR)) == 1
    out, err = capsys.readouterr()
    assert len(out.splitlines()) == 37
    assert err.splitlines() == [
        f"linja: 37 error(s) in {BROKEN_DIR}",
        "linja: reload refused; the running configuration is unchanged",
    ]


def test_cli_refuses_a_missing_directory(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="not a directory"):
        run_cli("check", "--dir", str(tmp_path / "nope"))


def _node(name: str, log: list[str], state: Path, **kw: object) -> ReloadTarget:
    reachable = bool(kw.get("reachable", True))
    return ReloadTarget(
        name,
        lambda: FakeAmi(log, reachable=reachable, name=name),
        lambda source: log.append(f"install {name}"),
        state / name / "flows.json",
        running=bool(kw.get("running", True)),
    )


async def test_multi_node_reload_reaches_every_node(make_dir: MakeDir, tmp_path: Path) -> None:
    """Issue 19: each node's Asterisk is reloaded and each node controller gets the snapshot;
    a node that is not running gets the files (it starts with them) but no AMI session."""
    log: list[str] = []
    targets = [
        _node("n0", log, tmp_path),
        _node("n1", log, tmp_path),
        _node("n2", log, tmp_path, running=False),
    ]
    flows = await reload_everywhere(make_dir(), app="linja", targets=targets)
    assert log == [
        "connect n0", "connect n1",  # every running node reached before anything is copied
        "install n0", "dialplan reload n0", "install n1", "dialplan reload n1", "install n2",
        "close n1", "close n0",
    ]  # fmt: skip
    for t in targets:
        assert read_snapshot(t.snapshot) == flows


async def test_one_unreachable_node_changes_no_node(make_dir: MakeDir, tmp_path: Path) -> None:
    log: list[str] = []
    targets = [_node("n0", log, tmp_path), _node("n1", log, tmp_path, reachable=False)]
    with pytest.raises(AmiError):
        await reload_everywhere(make_dir(), app="linja", targets=targets)
    assert log == ["connect n0", "close n0"]
    assert not any(t.snapshot.exists() for t in targets)


def test_the_targets_of_a_two_node_stack_are_its_nodes(tmp_path: Path) -> None:
    base = Settings(state_dir=tmp_path, ami_port=5038)
    assert [t.snapshot for t in reload_targets(base)] == [tmp_path / "flows.json"]
    (tmp_path / nodes.NODES_FILE).write_text(json.dumps({"count": 2}))
    targets = reload_targets(base)
    assert [t.name for t in targets] == ["node n0 (127.0.0.2)", "node n1 (127.0.0.3)"]
    assert [t.snapshot for t in targets] == [
        tmp_path / "nodes" / f"n{i}" / "flows.json" for i in range(2)
    ]
    assert not any(t.running for t in targets)
