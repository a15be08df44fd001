"""Helpers for the flow-definition tests."""

from __future__ import annotations

import argparse
import textwrap
from pathlib import Path

from ivr.commands import dialplan as dialplan_cmd

BASE_CONF = """\
[linja-inbound]
exten => 100,1,Stasis(linja,announcement,acme)
exten => 200,1,Stasis(linja,menu,acme)
"""

# A valid tenant file (18 lines); tests append to it or replace parts of it.
BASE_FLOWS = """\
tenant = "acme"
language = "fi"
entry = "main"

[prompts.welcome]
text = "Tervetuloa"

[prompts.goodbye]
text = "Näkemiin"

[menus.main]
prompt = "welcome"

[menus.main.options]
"1" = "queue:sales"

[queues.sales]
agents = ["agent1"]
"""

BROKEN_DIR = Path(__file__).parent / "broken"


def build_dir(root: Path, conf: str | None, flows: dict[str, str]) -> Path:
    (root / "flows").mkdir(parents=True)
    if conf is not None:
        (root / "linja.conf").write_text(textwrap.dedent(conf))
    for tenant, text in flows.items():
        (root / "flows" / f"{tenant}.toml").write_text(textwrap.dedent(text))
    return root


def run_cli(*argv: str) -> int:
    """Run `linja dialplan ...` through the command module's own parser."""
    parser = argparse.ArgumentParser(prog="linja")
    sub = parser.add_subparsers(dest="command", required=True)
    dialplan_cmd.register(sub)
    args = parser.parse_args(["dialplan", *argv])
    code: int = args.func(args)
    return code
