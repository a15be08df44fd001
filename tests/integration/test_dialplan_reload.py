"""`linja dialplan reload` against the running Asterisk 22.

A clean edit goes live (Asterisk lists the new extension); a broken edit is refused with
file:line errors and the previous configuration keeps serving: the same `dialplan show`
output, the same installed files, the same flow snapshot. The project's dialplan is
reloaded again at the end.
"""

from __future__ import annotations

import argparse
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from ivr.commands import dialplan as dialplan_cmd
from ivr.config import Settings, project_root
from ivr.stack.asterisk import AsteriskServer
from tests.support import run_sipp

pytestmark = pytest.mark.integration

EXTRA = (
    "exten => 4711,1,Stasis(linja,menu,demo)\n"
    ' same => n,GotoIf($["${STASISSTATUS}" = "FAILED"]?linja-unavailable,s,1)\n'
    " same => n,Hangup()\n"
)


def linja(*argv: str) -> int:
    parser = argparse.ArgumentParser(prog="linja")
    dialplan_cmd.register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["dialplan", *argv])
    code: int = args.func(args)
    return code


def copy_dialplan(dest: Path) -> Path:
    shutil.copytree(project_root() / "dialplan", dest, ignore=shutil.ignore_patterns("*.py"))
    return dest


def with_extra_extension(directory: Path) -> Path:
    conf = directory / "linja.conf"
    text = conf.read_text()
    assert "[linja-inbound]\n" in text
    conf.write_text(text.replace("[linja-inbound]\n", "[linja-inbound]\n" + EXTRA, 1))
    return directory


@pytest.fixture
def asterisk(stack: Settings) -> Iterator[AsteriskServer]:
    server = AsteriskServer(stack)
    yield server
    assert linja("reload") == 0, "restoring the project's dialplan"
    assert "'4711'" not in server.cli("dialplan show linja-inbound")


def test_clean_reload_goes_live(
    asterisk: AsteriskServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    directory = with_extra_extension(copy_dialplan(tmp_path / "dialplan"))
    assert linja("reload", "--dir", str(directory)) == 0
    assert capsys.readouterr().out.startswith(f"reloaded from {directory}: ")
    shown = asterisk.cli("dialplan show linja-inbound")
    assert "'4711' =>" in shown
    assert "Stasis(linja,menu,demo)" in shown


def test_broken_reload_keeps_the_running_configuration(
    asterisk: AsteriskServer, stack: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # The running configuration: the project's dialplan plus extension 4711.
    good = with_extra_extension(copy_dialplan(tmp_path / "good"))
    assert linja("reload", "--dir", str(good)) == 0
    capsys.readouterr()
    installed = asterisk.etc / "linja" / "linja.conf"
    snapshot = stack.state_dir / dialplan_cmd.SNAPSHOT_NAME
    before = (
        asterisk.cli("dialplan show linja-inbound"),
        installed.read_text(),
        snapshot.read_text(),
    )
    assert "'4711' =>" in before[0]

    # An edit that drops 4711, adds a number without a priority and repeats a menu digit.
    broken = copy_dialplan(tmp_path / "broken")
    conf = broken / "linja.conf"
    lines = conf.read_text().splitlines(keepends=True)
    at = lines.index("[linja-inbound]\n") + 1
    lines.insert(at, "exten => 4712,Stasis(linja,menu,demo)\n")
    conf.write_text("".join(lines))
    flows = broken / "flows" / "demo.toml"
    text = flows.read_text()
    flows.write_text(
        text.replace(
            '"2" = "queue:support"\n', '"2" = "queue:support"\n"1" = "hangup:goodbye"\n', 1
        )
    )
    dup_line = flows.read_text().splitlines().index('"1" = "hangup:goodbye"') + 1
    first_line = flows.read_text().splitlines().index('"1" = "queue:sales"') + 1

    assert linja("reload", "--dir", str(broken)) == 1
    out, err = capsys.readouterr()
    assert out.splitlines() == [
        f"flows/demo.toml:{dup_line}: menu 'main': duplicate option '1' "
        f"(first at line {first_line})",
        f"linja.conf:{at + 1}: extension '4712': missing priority "
        "(expected exten => 4712,<priority>,<app>)",
    ]
    assert "reload refused; the running configuration is unchanged" in err

    after = (
        asterisk.cli("dialplan show linja-inbound"),
        installed.read_text(),
        snapshot.read_text(),
    )
    assert after == before

    # ... and it still serves calls: 4711 exists only in the previous configuration. With no
    # controller connected it is answered by the dialplan's unavailable branch (a refused
    # configuration would have dropped it, and Asterisk would answer 404).
    call = run_sipp(
        "caller-hears-bulletin.xml", tmp_path / "call", service="4711", settings=stack, timeout=30
    )
    assert call.returncode == 0, call.output + call.errors
    assert len(call.rtt_ms) == 1
