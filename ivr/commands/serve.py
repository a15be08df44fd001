"""`linja serve` (the controller alone) and `linja run` (stack + demo + controller)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Coroutine
from typing import Any

from ivr.app import serve
from ivr.config import Settings, project_root
from ivr.demo import seed_demo
from ivr.stack import control, nodes
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
    run.add_argument(
        "--nodes",
        type=int,
        default=None,
        help="Asterisk nodes behind Kamailio, a controller each (default LINJA_NODES, 1)",
    )
    run.set_defaults(func=_run)


def _serve(args: argparse.Namespace) -> int:
    settings = Settings()
    run_loop(serve(settings), settings.event_loop)
    return 0


def run_loop(main: Coroutine[Any, Any, None], kind: str) -> None:
    """``main`` on the event loop ``kind`` (``LINJA_EVENT_LOOP``): uvloop or asyncio's own."""
    if kind == "uvloop":
        import uvloop

        uvloop.run(main)
    else:
        asyncio.run(main)


def _run(args: argparse.Namespace) -> int:
    args.nodes = args.nodes or Settings().nodes
    if args.nodes > 1:
        return _run_nodes(args)
    settings = Settings()
    before = control.status(settings)
    try:
        nodes.refuse_single(settings)
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
        run_loop(serve(settings), settings.event_loop)
    finally:
        if not before["asterisk"].startswith("running"):
            from ivr.stack.asterisk import AsteriskServer

            AsteriskServer(settings).stop()
        if not before["postgres"].startswith("running"):
            from ivr.stack.postgres import PgCluster

            PgCluster(settings).stop()
    return 0


def _run_nodes(args: argparse.Namespace) -> int:
    """`linja run --nodes N`: the multi-node stack and a `linja serve` per node (each with
    its node's settings, ivr/stack/nodes.py) until Ctrl-C; then stopped again unless it
    already ran before."""
    base = Settings()
    was_up = bool(nodes.status(base).get("kamailio", "").startswith("running"))
    pg_was_up = control.status(base)["postgres"].startswith("running")
    try:
        members = nodes.up(base, args.nodes)
    except StackError as exc:
        print(f"linja: stack up failed: {exc}")
        return 1
    procs: list[subprocess.Popen[bytes]] = []
    try:
        if not args.no_demo:
            print(asyncio.run(seed_demo(members[0])).message())
        for i, member in enumerate(members):
            env = {**os.environ, **nodes.node_env(base, i, args.nodes)}
            procs.append(
                subprocess.Popen(
                    [sys.executable, "-m", "ivr.cli", "serve"], env=env, cwd=project_root()
                )
            )
            log.info("controller of node n%d (%s) started, pid %d", i, member.bind, procs[-1].pid)
        print(
            f"Call the demo bulletin: sip:100@{base.sip_front}:{base.sip_port} "
            "(Ctrl-C stops everything)"
        )
        stop = threading.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: stop.set())
        while not stop.wait(0.5) and all(p.poll() is None for p in procs):
            pass
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in procs:
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=20)
        if not was_up:
            nodes.down(base)
        if not pg_was_up:
            from ivr.stack.postgres import PgCluster

            PgCluster(base).stop()
    return 0 if all(p.returncode in (0, -signal.SIGTERM) for p in procs) else 1
