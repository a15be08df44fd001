"""Spoken numbers to digits, Finnish and English, before identifiers are looked for.

``normalise("soita nolla neljä nolla, kaksikymmentäkolme")`` gives ``Normalised`` whose
``text`` is ``"soita 0 4 0, 23"``; each piece of it remembers the span of the original text
it came from, so a redaction found in the normalised text covers the right original words.

Both vocabularies apply whatever the call's language: a Finnish caller may read an e-mail
address in English, and the words do not collide. Digit by digit ("yksi kaksi kolme",
"oh four oh") gives one digit per word; grouped forms ("neljäkymmentäviisi", "forty five",
"kaksi sataa", "two thousand twenty") give their value. Finnish compounds written as one
word are split into their parts ("yksikaksi" -> 1 2, "kaksikymmentäkolme" -> 23). "double"
and "triple" repeat the next digit. Pure: no I/O.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Literal

Kind = Literal[
    "digit", "ten_word", "teen", "tens", "teen_suffix", "times_ten", "hundred", "thousand"
]
Atom = tuple[Kind, int]

EN: dict[str, list[Atom]] = {
    "zero": [("digit", 0)],
    "oh": [("digit", 0)],
    "nought": [("digit", 0)],
    "one": [("digit", 1)],
    "two": [("digit", 2)],
    "three": [("digit", 3)],
    "four": [("digit", 4)],
    "five": [("digit", 5)],
    "six": [("digit", 6)],
    "seven": [("digit", 7)],
    "eight": [("digit", 8)],
    "nine": [("digit", 9)],
    "ten": [("teen", 10)],
    "eleven": [("teen", 11)],
    "twelve": [("teen", 12)],
    "thirteen": [("teen", 13)],
    "fourteen": [("teen", 14)],
    "fifteen": [("teen", 15)],
    "sixteen": [("teen", 16)],
    "seventeen": [("teen", 17)],
    "eighteen": [("teen", 18)],
    "nineteen": [("teen", 19)],
    "twenty": [("tens", 20)],
    "thirty": [("tens", 30)],
    "forty": [("tens", 40)],
    "fourty": [("tens", 40)],
    "fifty": [("tens", 50)],
    "sixty": [("tens", 60)],
    "seventy": [("tens", 70)],
    "eighty": [("tens", 80)],
    "ninety": [("tens", 90)],
    "hundred": [("hundred", 0)],
    "thousand": [("thousand", 0)],
}
REPEAT = {"double": 2, "triple": 3}

# Finnish parts, longest first when a compound word is split.
FI_PARTS: dict[str, Atom] = {
    "nolla": ("digit", 0),
    "yksi": ("digit", 1),
    "yks": ("digit", 1),
    "kaksi": ("digit", 2),
    "kaks": ("digit", 2),
    "kolme": ("digit", 3),
    "neljä": ("digit", 4),
    "nelijä": ("digit", 4),
    "viisi": ("digit", 5),
    "viis": ("digit", 5),
    "kuusi": ("digit", 6),
    "kuus": ("digit", 6),
    "seitsemän": ("digit", 7),
    "seittemän": ("digit", 7),
    "seitsämän": ("digit", 7),
    "kahdeksan": ("digit", 8),
    "kaheksan": ("digit", 8),
    "yhdeksän": ("digit", 9),
    "yheksän": ("digit", 9),
    "kymmenen": ("ten_word", 10),
    "toista": ("teen_suffix", 0),
    "kymmentä": ("times_ten", 0),
    "sataa": ("hundred", 0),
    "sata": ("hundred", 0),
    "tuhatta": ("thousand", 0),
    "tuhat": ("thousand", 0),
}
_FI_ORDER = sorted(FI_PARTS, key=len, reverse=True)
_TOKEN = re.compile(r"\w+|\s+|[^\w\s]")


def split_finnish(word: str) -> list[Atom] | None:
    """The Finnish number parts a whole word is made of, or None when it is not one."""
    atoms: list[Atom] = []
    rest = word
    while rest:
        for part in _FI_ORDER:
            if rest.startswith(part):
                atoms.append(FI_PARTS[part])
                rest = rest[len(part) :]
                break
        else:
            return None
    # A bare suffix is not a number ("toista" alone means "another").
    if atoms and atoms[0][0] in ("teen_suffix", "times_ten"):
        return None
    return atoms


def word_atoms(word: str) -> list[Atom] | None:
    low = word.lower()
    if low in EN:
        return EN[low]
    return split_finnish(low)


class _Values:
    """Folds number atoms into values: "twenty three" -> 23, "one two" -> 1, 2."""

    def __init__(self) -> None:
        self.out: list[int] = []
        self.base: int | None = None  # thousands / hundreds part so far
        self.small: int | None = None  # the part below a hundred
        self.last: Kind | None = None
        self.last_digit = 0

    def flush(self) -> None:
        if self.base is not None or self.small is not None:
            self.out.append((self.base or 0) + (self.small or 0))
        self.base = self.small = None
        self.last = None

    def _start(self, value: int) -> None:
        if self.last in ("hundred", "thousand") and self.small is None:
            self.small = value
        else:
            self.flush()
            self.small = value

    def add(self, atom: Atom) -> None:
        kind, value = atom
        if kind == "digit":
            if self.last == "tens" and self.small is not None and value > 0:
                self.small += value
                self.last = "digit"
                self.last_digit = 0  # "twenty three kymmentä" is not a number
                return
            self._start(value)
            self.last_digit = value
        elif kind == "times_ten" and self.last == "digit" and self.small is not None:
            self.small += self.last_digit * 9
            kind = "tens"
        elif kind == "teen_suffix" and self.last == "digit" and self.small is not None:
            self.small += 10
            kind = "teen"
        elif kind in ("ten_word", "teen", "tens"):
            self._start(value)
            kind = "tens" if kind == "tens" or kind == "ten_word" else "teen"
        elif kind == "hundred":
            self.base = (self.base or 0) + (self.small if self.small is not None else 1) * 100
            self.small = None
        elif kind == "thousand":
            total = (self.base or 0) + (self.small or 0)
            self.base = (total or 1) * 1000
            self.small = None
        else:  # a suffix with nothing before it
            self.flush()
            return
        self.last = kind


def values(atoms: list[Atom]) -> list[int]:
    v = _Values()
    for atom in atoms:
        v.add(atom)
    v.flush()
    return v.out


@dataclass(frozen=True, slots=True)
class Piece:
    """``text`` of the normalised string at ``[start, start+len(text))``, made from the
    original text's ``[orig_start, orig_end)``."""

    text: str
    start: int
    orig_start: int
    orig_end: int

    @property
    def end(self) -> int:
        return self.start + len(self.text)


@dataclass(frozen=True, slots=True)
class Normalised:
    original: str
    text: str
    pieces: tuple[Piece, ...]

    def original_span(self, start: int, end: int) -> tuple[int, int]:
        """The original span covering the normalised ``[start, end)`` (whole pieces)."""
        hit = [p for p in self.pieces if p.start < end and p.end > start]
        if not hit:
            return start, start
        return hit[0].orig_start, hit[-1].orig_end


def _tokens(text: str) -> Iterator[tuple[int, int, str]]:
    for m in _TOKEN.finditer(text):
        yield m.start(), m.end(), m.group()


def normalise(text: str) -> Normalised:
    """``text`` with its number words as digits (see the module docstring)."""
    toks = list(_tokens(text))
    pieces: list[Piece] = []
    out: list[str] = []
    pos = 0

    def emit(s: str, o_start: int, o_end: int) -> None:
        nonlocal pos
        pieces.append(Piece(s, pos, o_start, o_end))
        out.append(s)
        pos += len(s)

    i = 0
    while i < len(toks):
        group, j = _number_group(toks, i)
        if group is None:
            start, end, s = toks[i]
            emit(s, start, end)
            i += 1
            continue
        nums = values(group)
        emit(" ".join(str(n) for n in nums), toks[i][0], toks[j - 1][1])
        i = j
    return Normalised(text, "".join(out), tuple(pieces))


def _number_group(toks: list[tuple[int, int, str]], i: int) -> tuple[list[Atom] | None, int]:
    """The atoms of the number words from token ``i`` on (joined by single spaces or
    hyphens), and the index after them; (None, i) when token ``i`` is no number word."""
    atoms: list[Atom] = []
    j = i
    end = i
    repeat = 1
    while j < len(toks):
        word = toks[j][2]
        low = word.lower()
        if low in REPEAT and j + 2 < len(toks) and toks[j + 1][2].isspace():
            nxt = word_atoms(toks[j + 2][2])
            if nxt and len(nxt) == 1 and nxt[0][0] == "digit":
                repeat = REPEAT[low]
                j += 2
                continue
        got = word_atoms(word) if word[:1].isalpha() else None
        if not got:
            break
        for _ in range(repeat):
            atoms.extend(got)
        repeat = 1
        end = j + 1
        # continue over one space or hyphen to the next number word
        if j + 2 < len(toks) and toks[j + 1][2] in (" ", "-"):
            j += 2
            continue
        break
    if end == i:
        return None, i
    return atoms, end
