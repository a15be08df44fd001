"""`linja serve` (the controller alone) and `linja run` (stack + demo + controller)."""

from __future__ import annotations

import argparse
import asyncio
import logging

from ivr.app import serve
from ivr.config import Settings
from ivr.demo import seed_demo
from ivr.stack import control
from ivr.stack.proc import StackError

log = logging.getLogger(__name__)


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    sub.add_parser("serve", help="run the call controller and HTTP console").set_defaults(
        func=_serve
    )
    run = sub.add_parser(
        "run", help="set up and start everything (stack, demo data, controller); Ctrl-C stops"
    )
    run.add_argument("--no-demo", action="store_true", help="do not seed the demo tenant")
    run.set_defaults(func=_run)


def _serve(args: argparse.Namespace) -> int:
    asyncio.run(serve(Settings()))
    return 0


def _run(args: argparse.Namespace) -> int:
    settings = Settings()
    before = control.status(settings)
    try:
        settings = control.up(settings)
    except StackError as exc:
        print(f"linja: stack up failed: {exc}")
        return 1
    try:
        if not args.no_demo:
            print(asyncio.run(seed_demo(settings)).message())
        for name, state in control.status(settings).items():
            print(f"{name:<11} {state}")
        print("Call the demo bulletin: sip:100@127.0.0.1:5060 (Ctrl-C stops everything)")
        asyncio.run(serve(settings))
    finally:
        if not before["asterisk"].startswith("running"):
            from ivr.stack.asterisk import AsteriskServer

            AsteriskServer(settings).stop()
        if not before["postgres"].startswith("running"):
            from ivr.stack.postgres import PgCluster

            PgCluster(settings).stop()
    return 0
