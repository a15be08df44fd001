"""The `linja` command. Each sub-command group lives in `ivr/commands/<name>.py` (the
platform's own: stack, serve, demo, audit, dialplan) or in a feature's
`ivr/features/<feature>/cli.py` (every feature in `ivr.feature_names.FEATURES` that has one), with
`register(subparsers)`; a command function returns the process exit code.

Exit codes: 0 ok, 1 failure at run time, 2 bad input (nothing was changed).
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence
from types import ModuleType

from ivr.commands import UsageError
from ivr.feature_names import FEATURES

__all__ = ["COMMANDS", "UsageError", "build_parser", "command_modules", "main"]

COMMAND_MODULES = (
    "ivr.commands.stack",
    "ivr.commands.serve",
    "ivr.commands.demo",
    "ivr.commands.audit",
    "ivr.commands.dialplan",
)

# Which module registers each top-level command. `linja X …` imports X's module alone, so a
# command starts without loading every feature (about half the CPU time of loading them
# all); `linja --help` and a command not in this table load every module.
# tests/unit/test_cli.py checks the table against what the modules register.
COMMANDS: dict[str, str] = {
    "stack": "ivr.commands.stack",
    "serve": "ivr.commands.serve",
    "run": "ivr.commands.serve",
    "demo": "ivr.commands.demo",
    "audit": "ivr.commands.audit",
    "dialplan": "ivr.commands.dialplan",
    "bulletin": "ivr.features.bulletins.cli",
    "agent": "ivr.features.callcenter.cli",
    "intake": "ivr.features.contacts.cli",
    "sweep": "ivr.features.sweep.cli",
    "legal-hold": "ivr.features.sweep.cli",
    "subject": "ivr.features.subjects.cli",
    "token": "ivr.features.logins.cli",
    "group": "ivr.features.callout.cli",
    "callout": "ivr.features.callout.cli",
    "transcript": "ivr.features.transcripts.cli",
    "tenant": "ivr.features.admin.cli",
    "number": "ivr.features.admin.cli",
    "user": "ivr.features.admin.cli",
}


def command_modules() -> list[ModuleType]:
    """Every module with commands: the platform's, then each feature's ``cli``."""
    found = []
    for name in (*COMMAND_MODULES, *(f"ivr.features.{feature}.cli" for feature in FEATURES)):
        try:
            found.append(importlib.import_module(name))
        except ModuleNotFoundError as exc:
            if exc.name == name:
                continue  # a feature without commands
            raise
    return found


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The parser of every command, or of ``command`` alone when the table names it."""
    parser = argparse.ArgumentParser(prog="linja", description=__doc__)
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True)
    if command in COMMANDS:
        modules = [importlib.import_module(COMMANDS[command])]
    else:
        modules = command_modules()
    for module in modules:
        module.register(sub)
    return parser


def _command_word(argv: Sequence[str]) -> str | None:
    """The first argument that is not a top-level option: the command's name."""
    for arg in argv:
        if arg not in ("-v", "--verbose"):
            return None if arg.startswith("-") else arg
    return None


def main(argv: Sequence[str] | None = None) -> int:
    args_in = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser(_command_word(args_in))
    args = parser.parse_args(args_in)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    # The format names no source line, thread or process: do not look them up for every
    # record (the logging HOWTO's "Optimization"); about a third of a record's cost.
    logging._srcfile = None
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False
    try:
        code: int = args.func(args)
    except UsageError as exc:
        print(f"linja: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    return code


if __name__ == "__main__":
    sys.exit(main())
