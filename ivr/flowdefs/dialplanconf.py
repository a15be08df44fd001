"""Static checks of the ops-edited Asterisk dialplan (``dialplan/*.conf``, extensions.conf
syntax) and the ``Stasis(linja,<flow>,<tenant>[,<entry menu>])`` routes it contains.

Checked here: context headers, statement syntax (``exten => <ext>,<priority>,<app>``,
``same => <priority>,<app>``), balanced parentheses and braces, an extension + priority
defined twice in a context (across all files: Asterisk merges contexts of the same name),
and for each route into the Stasis app: a known flow with the right number of arguments.
Whether the tenant and entry menu exist is for the loader, which knows the flow files.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from ivr.flowdefs.errors import DefinitionError


@dataclass(frozen=True)
class FlowSpec:
    needs_definitions: bool  # the tenant must have a flows/<tenant>.toml
    takes_entry_menu: bool  # Stasis(linja,<flow>,<tenant>,<menu>) allowed


FLOWS: dict[str, FlowSpec] = {
    "announcement": FlowSpec(needs_definitions=False, takes_entry_menu=False),
    "menu": FlowSpec(needs_definitions=True, takes_entry_menu=True),
    "agent-login": FlowSpec(needs_definitions=True, takes_entry_menu=False),
}

SETTINGS_CONTEXTS = frozenset({"general", "globals"})
OTHER_STATEMENTS = frozenset({"include", "switch", "eswitch", "lswitch", "ignorepat"})

_CONTEXT = re.compile(r"^\[([^\[\]\s]+)\]\s*(\([^()]*\))?$")
_PRIORITY = re.compile(r"^(\d+|n|next|s|same|hint)(\([\w-]*\))?$")
_WORD = re.compile(r"^[A-Za-z]\w*$")
_APP = re.compile(r"^([A-Za-z]\w*)\s*(?:\((.*)\))?$", re.DOTALL)
_PAIRS = {"(": ")", "{": "}"}


@dataclass(frozen=True)
class StasisRoute:
    """One ``Stasis(<app>,<flow>,<tenant>[,<menu>])`` priority of the dialplan."""

    file: str
    line: int
    context: str
    extension: str
    call: str  # the application call as written, for messages
    flow: str
    tenant: str
    menu: str | None


@dataclass
class DialplanScan:
    """Feed every .conf file with ``add_file``; then read ``routes`` and ``errors``."""

    app: str = "linja"
    routes: list[StasisRoute] = field(default_factory=list)
    errors: list[DefinitionError] = field(default_factory=list)
    _priorities: dict[tuple[str, str, int | str], tuple[str, int]] = field(default_factory=dict)

    def add_file(self, rel: str, text: str) -> None:
        _FileScan(self, rel).run(text)


class _FileScan:
    def __init__(self, scan: DialplanScan, rel: str) -> None:
        self.scan = scan
        self.rel = rel
        self.context: str | None = None
        self.last_ext: str | None = None
        self.last_prio = 0

    def error(self, line: int, message: str) -> None:
        self.scan.errors.append(DefinitionError(self.rel, line, message))

    def run(self, text: str) -> None:
        for lineno, line in _strip_comments(text):
            self.statement(lineno, line.strip())

    def statement(self, n: int, line: str) -> None:
        if not line or line.startswith("#"):  # #include, #exec: Asterisk's business
            return
        if line.startswith("["):
            m = _CONTEXT.match(line)
            if m is None:
                self.error(n, f"malformed context header '{line}' (expected [name])")
                self.context = line.strip("[] \t") or "?"  # go on checking its lines
            else:
                self.context = m.group(1)
            self.last_ext, self.last_prio = None, 0
            return
        key, eq, value = line.partition("=")
        key = key.strip().lower()
        if not eq or not key:
            self.error(n, f"expected 'exten => ...' or another 'key => value' line, got '{line}'")
            return
        value = value[1:].strip() if value.startswith(">") else value.strip()
        if self.context is None:
            self.error(n, f"'{key}' outside of any [context]")
            return
        if self.context in SETTINGS_CONTEXTS:
            return
        if key == "exten":
            ext, comma, rest = value.partition(",")
            ext = ext.strip()
            if not ext:
                self.error(n, f"'exten' without an extension: '{line}'")
                return
            if not comma:
                self.error(n, f"extension '{ext}': missing priority and application")
                return
            self.priority_and_app(n, ext, rest, same=False)
        elif key == "same":
            if self.last_ext is None:
                self.error(n, f"'same' without an 'exten' before it in context '{self.context}'")
                return
            self.priority_and_app(n, self.last_ext, value, same=True)
        elif key in OTHER_STATEMENTS:
            if not value:
                self.error(n, f"'{key}' without a value")
        else:
            self.error(
                n,
                f"unknown statement '{key}' (expected exten, same, "
                f"{', '.join(sorted(OTHER_STATEMENTS))})",
            )

    def priority_and_app(self, n: int, ext: str, rest: str, *, same: bool) -> None:
        assert self.context is not None
        prio_text, comma, app = rest.partition(",")
        prio_text = prio_text.strip()
        m = _PRIORITY.match(prio_text)
        if m is None:
            # "100,Stasis(linja,menu,demo)" or "100,Hangup": the application came first
            if "(" in prio_text or (not comma and _WORD.match(prio_text)):
                shape = "same => <priority>,<app>" if same else f"exten => {ext},<priority>,<app>"
                self.error(n, f"extension '{ext}': missing priority (expected {shape})")
            else:
                self.error(n, f"extension '{ext}': bad priority '{prio_text}'")
            return
        prio_word = m.group(1)
        prio: int | str
        if prio_word == "hint":
            prio = "hint"
        else:
            if prio_word in ("n", "next"):
                number = self.last_prio + 1
            elif prio_word in ("s", "same"):
                number = max(self.last_prio, 1)
            else:
                number = int(prio_word)
            if number < 1:
                self.error(n, f"extension '{ext}': bad priority '{prio_text}'")
                return
            self.last_prio = prio = number
        self.last_ext = ext
        app = app.strip()
        where = f"extension '{ext}' priority {prio}"
        if not comma or not app:
            self.error(n, f"{where}: missing application")
            return
        balance = _balance_problem(app)
        if balance is not None:
            self.error(n, f"{where}: {balance} in '{app}'")
            return
        if prio != "hint" and _APP.match(app) is None:
            self.error(n, f"{where}: '{app}' is not an application call like Name(args)")
            return
        key = (self.context, ext, prio)
        first = self.scan._priorities.get(key)
        if first is not None:
            self.error(
                n,
                f"context '{self.context}': {where} is already defined at {first[0]}:{first[1]}",
            )
            return
        self.scan._priorities[key] = (self.rel, n)
        if prio != "hint":
            self.stasis(n, ext, app)

    def stasis(self, n: int, ext: str, app: str) -> None:
        assert self.context is not None
        m = _APP.match(app)
        assert m is not None
        if m.group(1).lower() != "stasis" or m.group(2) is None:
            return
        args = _split_args(m.group(2))
        if args[0] != self.scan.app:
            return
        call = app
        if len(args) < 3 or not args[1] or not args[2]:
            self.error(
                n, f"{call}: expected Stasis({self.scan.app},<flow>,<tenant>[,<entry menu>])"
            )
            return
        flow, tenant = args[1], args[2]
        if "$" in flow:  # chosen at run time: nothing to check statically
            return
        spec = FLOWS.get(flow)
        if spec is None:
            self.error(n, f"{call}: unknown flow '{flow}' (known: {', '.join(sorted(FLOWS))})")
            return
        extra = args[3:]
        allowed = 1 if spec.takes_entry_menu else 0
        if len(extra) > allowed:
            what = "at most an entry menu" if allowed else "no arguments"
            self.error(n, f"{call}: flow '{flow}' takes {what} after the tenant")
            return
        menu = extra[0] if extra else None
        self.scan.routes.append(
            StasisRoute(self.rel, n, self.context, ext, call, flow, tenant, menu or None)
        )


def _strip_comments(text: str) -> list[tuple[int, str]]:
    """Lines without ``;`` comments (``\\;`` is a literal semicolon) and ``;-- --;`` blocks."""
    out: list[tuple[int, str]] = []
    in_block = False
    for n, line in enumerate(text.splitlines(), start=1):
        kept: list[str] = []
        i = 0
        while i < len(line):
            if in_block:
                end = line.find("--;", i)
                if end < 0:
                    i = len(line)
                else:
                    in_block = False
                    i = end + 3
                continue
            c = line[i]
            if c == "\\" and i + 1 < len(line):
                kept.append(line[i : i + 2])
                i += 2
            elif c == ";":
                if line.startswith(";--", i):
                    in_block = True
                    i += 3
                else:
                    break
            else:
                kept.append(c)
                i += 1
        out.append((n, "".join(kept)))
    return out


def _balance_problem(app: str) -> str | None:
    """Which of "unbalanced parentheses" / "unbalanced braces" applies to the pair not closed
    (or closed without being opened); None when balanced. A backslash escapes."""
    names = {")": "unbalanced parentheses", "}": "unbalanced braces"}
    stack: list[str] = []
    i = 0
    while i < len(app):
        c = app[i]
        if c == "\\":
            i += 2
            continue
        if c in _PAIRS:
            stack.append(_PAIRS[c])
        elif c in names:
            if not stack:
                return names[c]
            expected = stack.pop()
            if expected != c:
                return names[expected]
        i += 1
    return names[stack[-1]] if stack else None


def _split_args(args: str) -> list[str]:
    """Top-level comma split (a comma inside ``${...}`` or ``f(...)`` does not separate)."""
    parts: list[str] = []
    depth = 0
    current: list[str] = []
    for c in args:
        if c in "({[":
            depth += 1
        elif c in ")}]":
            depth -= 1
        if c == "," and depth == 0:
            parts.append("".join(current))
            current = []
        else:
            current.append(c)
    parts.append("".join(current))
    return parts
