"""The `linja` command. Each sub-command group lives in `ivr/commands/<name>.py` (the
platform's own: stack, serve, demo, audit, dialplan) or in a feature's
`ivr/features/<feature>/cli.py` (every feature in `ivr.app.FEATURES` that has one), with
`register(subparsers)`; a command function returns the process exit code.

Exit codes: 0 ok, 1 failure at run time, 2 bad input (nothing was changed).
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence

from ivr.app import FEATURES
from ivr.commands import UsageError

__all__ = ["UsageError", "build_parser", "main"]

COMMAND_MODULES = (
    "ivr.commands.stack",
    "ivr.commands.serve",
    "ivr.commands.bulletin",
    "ivr.commands.demo",
    "ivr.commands.audit",
    "ivr.commands.dialplan",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="linja", description=__doc__)
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True)
    for name in (*COMMAND_MODULES, *(f"ivr.features.{feature}.cli" for feature in FEATURES)):
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name == name:
                continue  # a feature without commands
            raise
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
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
