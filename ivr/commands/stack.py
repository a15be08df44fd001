"""`linja stack up [--nodes N] | down | status`."""

from __future__ import annotations

import argparse

from ivr.config import Settings
from ivr.stack import control, nodes
from ivr.stack.proc import StackError


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser("stack", help="set up, start, stop and inspect Asterisk + Postgres")
    actions = parser.add_subparsers(dest="action", required=True)
    up = actions.add_parser("up", help="install/build what is missing, start, migrate")
    up.add_argument(
        "--nodes",
        type=int,
        default=None,
        help="Asterisk nodes behind Kamailio (default LINJA_NODES, 1: one Asterisk, no Kamailio)",
    )
    up.set_defaults(func=_up)
    actions.add_parser("down", help="stop what `up` started").set_defaults(func=_down)
    actions.add_parser("status", help="what runs where").set_defaults(func=_status)


def _up(args: argparse.Namespace) -> int:
    try:
        count = args.nodes or Settings().nodes
        if count > 1:
            nodes.up(Settings(), count)
        else:
            nodes.refuse_single(Settings())
            control.up(Settings())
    except StackError as exc:
        print(f"linja: stack up failed: {exc}")
        return 1
    _print(Settings())
    return 0


def _down(args: argparse.Namespace) -> int:
    try:
        settings = Settings()
        nodes.down(settings)
        control.down(settings)
    except StackError as exc:
        print(f"linja: stack down failed: {exc}")
        return 1
    return 0


def _status(args: argparse.Namespace) -> int:
    settings = Settings()
    multi = nodes.status(settings)
    _print(settings)
    if multi:
        return 0 if multi["kamailio"].startswith("running") else 3
    return 0 if control.status(settings)["asterisk"].startswith("running") else 3


def _print(settings: Settings) -> None:
    """The multi-node stack's lines when one was started, else the single stack's."""
    states = nodes.status(settings) or control.status(settings)
    for name, state in states.items():
        print(f"{name:<11} {state}")
