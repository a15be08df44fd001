"""`linja dialplan reload` logic with a fake AMI and installer: a broken directory changes
nothing; a clean one installs, reloads, then writes the snapshot, in that order."""

from __future__ import annotations

from pathlib import Path
from types import TracebackType

import pytest

from ivr.commands import UsageError
from ivr.commands.dialplan import AmiError, reload_dialplan
from ivr.flowdefs import DefinitionErrors, read_snapshot
from tests.unit.flowdefs.conftest import MakeDir
from tests.unit.flowdefs.support import BROKEN_DIR, run_cli


class FakeAmi:
    def __init__(self, log: list[str], *, reachable: bool = True) -> None:
        self.log = log
        self.reachable = reachable

    async def __aenter__(self) -> FakeAmi:
        if not self.reachable:
            raise AmiError("cannot reach AMI 127.0.0.1:5038: refused")
        self.log.append("connect")
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.log.append("close")

    async def command(self, command: str) -> str:
        self.log.append(command)
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
