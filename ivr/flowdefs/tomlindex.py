"""Where each key of a TOML document is written: ``tomllib`` gives values but no line numbers.

A loose structural scan of the source text (tables, keys, strings, arrays, inline tables)
records the line of every table header, key and array element under its full key path, and
notices keys defined twice (which ``tomllib`` only reports as "Cannot overwrite a value").
It never judges the document: at anything it does not understand it stops, and the syntax
error is ``tomllib``'s to report.
"""

from __future__ import annotations

import bisect
import contextlib
import tomllib
from dataclasses import dataclass, field

KeyPath = tuple[str | int, ...]

_BARE = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-")
_SCALAR_END = frozenset(",]}\n#")


@dataclass(frozen=True)
class Duplicate:
    path: KeyPath
    line: int
    first_line: int
    table: bool  # a [table] header declared twice, rather than a key


@dataclass
class KeyIndex:
    lines: dict[KeyPath, int] = field(default_factory=dict)
    duplicates: list[Duplicate] = field(default_factory=list)

    def line_of(self, path: KeyPath) -> int:
        """The line of ``path``, else of its nearest written ancestor, else 1."""
        for n in range(len(path), 0, -1):
            line = self.lines.get(path[:n])
            if line is not None:
                return line
        return 1


class _Stop(Exception):
    pass


class _Scanner:
    def __init__(self, text: str) -> None:
        self.s = text
        self.i = 0
        self.newlines = [n for n, c in enumerate(text) if c == "\n"]
        self.index = KeyIndex()
        self.array_tables: dict[KeyPath, int] = {}
        self.quiet = False  # inside a table declared twice

    # ----- primitives ---------------------------------------------------------------------
    def line(self, pos: int | None = None) -> int:
        return bisect.bisect_left(self.newlines, self.i if pos is None else pos) + 1

    def peek(self, n: int = 0) -> str:
        j = self.i + n
        return self.s[j] if j < len(self.s) else ""

    def skip_ws(self, newlines: bool = False) -> None:
        while self.i < len(self.s):
            c = self.s[self.i]
            if c in " \t\r" or (newlines and c == "\n"):
                self.i += 1
            elif c == "#":
                while self.i < len(self.s) and self.s[self.i] != "\n":
                    self.i += 1
            else:
                return

    def expect(self, c: str) -> None:
        if self.peek() != c:
            raise _Stop
        self.i += 1

    def string(self) -> str:
        """A string at the cursor; returns its raw source text (quotes included)."""
        start = self.i
        q = self.peek()
        if self.s.startswith(q * 3, self.i):
            end = self.s.find(q * 3, self.i + 3) if q == "'" else self._basic_end(self.i + 3, 3)
            if end < 0:
                raise _Stop
            end += 3
            for _ in range(2):  # up to two quotes of the content may touch the delimiter
                if self.s.startswith(q, end):
                    end += 1
            self.i = end
            return self.s[start:end]
        end = self.s.find(q, self.i + 1) if q == "'" else self._basic_end(self.i + 1, 1)
        if end < 0 or "\n" in self.s[self.i : end]:
            raise _Stop
        self.i = end + 1
        return self.s[start : end + 1]

    def _basic_end(self, j: int, width: int) -> int:
        while j < len(self.s):
            c = self.s[j]
            if c == "\\":
                j += 2
                continue
            if self.s.startswith('"' * width, j):
                return j
            j += 1
        return -1

    # ----- keys ---------------------------------------------------------------------------
    def simple_key(self) -> str:
        c = self.peek()
        if c in "\"'":
            raw = self.string()
            if raw.startswith(c * 3):
                raise _Stop
            try:
                value = tomllib.loads(f"k = {raw}")["k"]
            except tomllib.TOMLDecodeError:
                raise _Stop from None
            assert isinstance(value, str)
            return value
        start = self.i
        while self.peek() and self.peek() in _BARE:
            self.i += 1
        if self.i == start:
            raise _Stop
        return self.s[start : self.i]

    def key(self) -> tuple[str, ...]:
        parts = [self.simple_key()]
        while True:
            self.skip_ws()
            if self.peek() != ".":
                return tuple(parts)
            self.i += 1
            self.skip_ws()
            parts.append(self.simple_key())

    # ----- values -------------------------------------------------------------------------
    def value(self, path: KeyPath) -> None:
        c = self.peek()
        if c in "\"'":
            self.string()
        elif c == "[":
            self.i += 1
            n = 0
            while True:
                self.skip_ws(newlines=True)
                if self.peek() == "]":
                    self.i += 1
                    return
                self.record((*path, n), self.line(), table=False)
                self.value((*path, n))
                n += 1
                self.skip_ws(newlines=True)
                if self.peek() == ",":
                    self.i += 1
                elif self.peek() != "]":
                    raise _Stop
        elif c == "{":
            self.i += 1
            self.skip_ws()
            if self.peek() == "}":
                self.i += 1
                return
            while True:
                self.skip_ws()
                line = self.line()
                sub = path + self.key()
                self.skip_ws()
                self.expect("=")
                self.skip_ws()
                self.record(sub, line, table=False)
                self.value(sub)
                self.skip_ws()
                if self.peek() == ",":
                    self.i += 1
                    continue
                self.expect("}")
                return
        else:
            start = self.i
            while self.i < len(self.s) and self.s[self.i] not in _SCALAR_END:
                self.i += 1
            if not self.s[start : self.i].strip():
                raise _Stop

    # ----- document -----------------------------------------------------------------------
    def record(self, path: KeyPath, line: int, *, table: bool) -> None:
        """Only keys and headers written out are recorded, never the parents they imply, so
        any path seen twice is defined twice."""
        first = self.index.lines.get(path)
        if first is not None:
            if not self.quiet:
                self.index.duplicates.append(Duplicate(path, line, first, table))
            if table:
                self.quiet = True  # its keys repeat the first table's: one error is enough
            return
        if table:
            self.quiet = False
        self.index.lines[path] = line

    def document(self) -> None:
        table: KeyPath = ()
        while True:
            self.skip_ws(newlines=True)
            if self.i >= len(self.s):
                return
            line = self.line()
            if self.peek() == "[":
                if self.peek(1) == "[":
                    self.i += 2
                    self.skip_ws()
                    key = self.key()
                    self.expect("]")
                    self.expect("]")
                    n = self.array_tables.get(key, -1) + 1
                    self.array_tables[key] = n
                    self.index.lines.setdefault(key, line)
                    table = (*key, n)
                    self.index.lines[table] = line
                else:
                    self.i += 1
                    self.skip_ws()
                    key = self.key()
                    self.expect("]")
                    self.record(key, line, table=True)
                    table = key
            else:
                path = table + self.key()
                self.skip_ws()
                self.expect("=")
                self.skip_ws()
                self.record(path, line, table=False)
                self.value(path)
            self.skip_ws()
            if self.i < len(self.s) and self.peek() != "\n":
                raise _Stop


def index_keys(text: str) -> KeyIndex:
    scanner = _Scanner(text)
    with contextlib.suppress(_Stop):
        scanner.document()
    return scanner.index
