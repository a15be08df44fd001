"""`linja demo seed`."""

from __future__ import annotations

import argparse
import asyncio

from ivr.config import Settings
from ivr.demo import seed_demo


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    demo = sub.add_parser("demo", help="demo data")
    actions = demo.add_subparsers(dest="action", required=True)
    actions.add_parser(
        "seed", help="tenant `demo`, number 100, one active bulletin, the demo admin"
    ).set_defaults(func=lambda _a: _seed())


def _seed() -> int:
    print(asyncio.run(seed_demo(Settings())).message())
    return 0
