"""The `linja` command's table of which module registers which top-level command: a command
missing from it, or named under the wrong module, fails here (and would otherwise load slowly
or not at all)."""

from __future__ import annotations

import argparse

import pytest

from ivr.cli import COMMANDS, build_parser, command_modules, main


def _registered_by(module: object) -> set[str]:
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="command")
    module.register(sub)  # type: ignore[attr-defined]
    return set(sub.choices)


def test_the_table_names_each_command_with_the_module_that_registers_it() -> None:
    registered = {
        name: module.__name__ for module in command_modules() for name in _registered_by(module)
    }
    assert registered == COMMANDS


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_a_command_parses_with_its_module_alone(command: str) -> None:
    lone = build_parser(command)
    whole = build_parser()
    lone_sub = next(a for a in lone._actions if isinstance(a, argparse._SubParsersAction))
    whole_sub = next(a for a in whole._actions if isinstance(a, argparse._SubParsersAction))
    assert command in lone_sub.choices
    assert lone_sub.choices[command].format_help() == whole_sub.choices[command].format_help()


def test_an_unknown_command_is_refused_naming_the_known_ones(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["no-such-command"])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert "invalid choice: 'no-such-command'" in err and "bulletin" in err and "tenant" in err


def test_options_before_the_command_still_pick_its_module(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["-v", "bulletin", "--help"])
    assert exit_.value.code == 0
    assert "usage: linja bulletin" in capsys.readouterr().out
