"""`linja stack up | down | status`."""

from __future__ import annotations

import argparse

from ivr.config import Settings
from ivr.stack import control
from ivr.stack.proc import StackError


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser("stack", help="set up, start, stop and inspect Asterisk + Postgres")
    actions = parser.add_subparsers(dest="action", required=True)
    actions.add_parser("up", help="install/build what is missing, start, migrate").set_defaults(
        func=_up
    )
    actions.add_parser("down", help="stop what `up` started").set_defaults(func=_down)
    actions.add_parser("status", help="what runs where").set_defaults(func=_status)


def _up(args: argparse.Namespace) -> int:
    try:
        settings = control.up(Settings())
    except StackError as exc:
        print(f"linja: stack up failed: {exc}")
        return 1
    for name, state in control.status(settings).items():
        print(f"{name:<11} {state}")
    return 0


def _down(args: argparse.Namespace) -> int:
    try:
        control.down(Settings())
    except StackError as exc:
        print(f"linja: stack down failed: {exc}")
        return 1
    return 0


def _status(args: argparse.Namespace) -> int:
    states = control.status(Settings())
    for name, state in states.items():
        print(f"{name:<11} {state}")
    return 0 if states["asterisk"].startswith("running") else 3
