"""Callback numbers: parsing what a caller keyed in or what the network sent, in Finnish
national or E.164 form. Pure: no I/O.

Accepted (spaces, dashes, dots and parentheses are ignored)::

    040 123 4567      Finnish national: trunk prefix 0, then 5-12 digits (mobile, landline)
    09 1234 567       (Helsinki landline)
    +358 40 123 4567  E.164: + country code and subscriber number, 8-15 digits in all
    00358 40 1234567  international prefix 00 = +
    *358401234567     from a phone keypad: a leading * stands for +

Refused with :class:`InvalidNumber` (its ``reason`` says why, for logs and tests): empty or
non-digit input, too short or too long, a national number after +358 written with its trunk
0 (+358 040...), and premium-rate numbers (0600-0609, 0700-0709 and the same after +358),
which the dialer must never call back at the service's cost. Short numbers (112, 116 117,
...) fail as too short.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["InvalidNumber", "PhoneNumber", "parse_number"]

FINLAND = "358"
_SEPARATORS = re.compile(r"[\s\-.()/]")
_PREMIUM = re.compile(r"^(60\d|70\d)")  # national significant number, no trunk 0
MIN_FI_NSN, MAX_FI_NSN = 5, 12
MIN_E164, MAX_E164 = 8, 15
MAX_INPUT = 40


class InvalidNumber(ValueError):
    """Not a number the service can call back; ``reason`` is a short English phrase."""

    def __init__(self, text: str, reason: str) -> None:
        shown = text if len(text) <= MAX_INPUT else text[:MAX_INPUT] + "..."
        super().__init__(f"{shown!r} is not a callable number: {reason}")
        self.reason = reason


@dataclass(frozen=True)
class PhoneNumber:
    e164: str  # "+358401234567"

    @property
    def finnish(self) -> bool:
        return self.e164.startswith("+" + FINLAND)

    @property
    def national(self) -> str:
        """ "0401234567" for a Finnish number, else the E.164 form."""
        return "0" + self.e164[1 + len(FINLAND) :] if self.finnish else self.e164

    def spoken_digits(self) -> str:
        """The number as a caller would write it, one digit at a time for text-to-speech:
        "0 4 0, 1 2 3, 4 5 6 7" (groups of three, the last of up to four)."""
        digits = self.national.lstrip("+")
        groups: list[str] = []
        rest = digits
        while len(rest) > 4:
            groups.append(rest[:3])
            rest = rest[3:]
        groups.append(rest)
        prefix = "plus " if self.national.startswith("+") else ""
        return prefix + ", ".join(" ".join(g) for g in groups)

    def __str__(self) -> str:
        return self.e164


def parse_number(text: str) -> PhoneNumber:
    """The callable number ``text`` stands for; raises :class:`InvalidNumber`."""
    if not isinstance(text, str):
        raise InvalidNumber(repr(text), "not text")
    if len(text) > MAX_INPUT:
        raise InvalidNumber(text, "too long")
    raw = _SEPARATORS.sub("", text.strip())
    if not raw:
        raise InvalidNumber(text, "empty")
    if raw.startswith("*"):
        raw = "+" + raw[1:]
    if raw.startswith("00"):
        raw = "+" + raw[2:]
    if raw.startswith("+"):
        digits = raw[1:]
        _digits_only(text, digits)
        if digits.startswith(FINLAND):
            nsn = digits[len(FINLAND) :]
            if nsn.startswith("0"):
                raise InvalidNumber(text, "no trunk 0 after +358")
            return _finnish(text, nsn)
        if digits.startswith("0"):
            raise InvalidNumber(text, "a country code never starts with 0")
        if not MIN_E164 <= len(digits) <= MAX_E164:
            raise InvalidNumber(text, f"E.164 numbers have {MIN_E164}-{MAX_E164} digits")
        return PhoneNumber("+" + digits)
    _digits_only(text, raw)
    if not raw.startswith("0"):
        raise InvalidNumber(text, "a Finnish number starts with 0 (or write +358...)")
    return _finnish(text, raw[1:])


def _digits_only(text: str, digits: str) -> None:
    if not digits.isascii() or not digits.isdigit():
        raise InvalidNumber(text, "only digits (and a leading + or 00) are allowed")


def _finnish(text: str, nsn: str) -> PhoneNumber:
    if not MIN_FI_NSN <= len(nsn) <= MAX_FI_NSN:
        raise InvalidNumber(text, "wrong length for a Finnish number")
    if _PREMIUM.match(nsn):
        raise InvalidNumber(text, "premium-rate numbers are not called back")
    return PhoneNumber("+" + FINLAND + nsn)
