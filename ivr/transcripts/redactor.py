"""Identifiers in a transcript to labelled placeholders, before the text is stored.

:func:`redact` first turns spoken numbers into digits (:mod:`ivr.transcripts.numbers`), then
looks in that normalised text for, in this order (an earlier finding wins an overlap):

- ``[EMAIL]``: addresses, also spoken ("matti piste meikäläinen ät esimerkki piste fi",
  "john dot smith at example dot com"), and whatever follows "my e-mail is" /
  "sähköpostini on" up to the end of the sentence (a half-heard address);
- ``[IBAN]``: IBANs whose ISO 7064 check (mod 97) holds;
- ``[HETU]``: Finnish personal identity codes whose check character holds (the separator
  may be spoken: "viiva", "miinus", "dash");
- ``[CARD]``: 13-19 digits that pass the Luhn check;
- ``[PHONE]``: phone numbers libphonenumber finds valid for region FI (or possible, when
  they start like a Finnish or international number);
- ``[NAME]``: capitalised words after "my name is" / "nimeni on" / "this is", and common
  given names and surnames wherever they stand, inflected too (:mod:`ivr.transcripts.names`;
  no language model here: an operator can add one later);
- ``[NUMBER]``: what is left of any run of 4 or more digits, counting digits up to two
  words apart ("0 4 0, eh, 1 2 3": one run).

The placeholders replace the *original* words (a "one" that is no part of an identifier
stays "one"). Pure: no I/O, no clock.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass

import phonenumbers

from ivr.transcripts.names import NAMES as KNOWN_NAMES
from ivr.transcripts.numbers import Normalised, normalise

LABELS = ("EMAIL", "IBAN", "HETU", "CARD", "PHONE", "NAME", "NUMBER")

_W = r"[^\W_][\w+-]*"
# a written dot inside an address (never a sentence's full stop), or a spoken one
_DOT = r"(?:\.(?=\w)|\s*\b(?:dot|piste|point|pist)\b\s*)"
_AT = r"\s*(?:@|\bat\b|\bät\b|\bätt\b|\bmiuku\b|\bmiukumauku\b|\bat-merkki\b)\s*"
_LOCAL_SEP = rf"(?:{_DOT}|\s*[_-]\s*|\s+(?:underscore|alaviiva|viiva)\s+)"
_TLD = r"[a-zåäö]{2,6}\b"
EMAIL = re.compile(
    rf"{_W}(?:{_LOCAL_SEP}{_W}){{0,3}}{_AT}{_W}(?:{_DOT}{_W}){{0,2}}{_DOT}{_TLD}", re.I
)
# What follows "my e-mail is" is the address, however badly it was heard ("on not Smith"):
# up to the end of the sentence, at most 8 words.
MAIL_INTRO = re.compile(
    r"\b(?:e-?mail|sähköpost\w*|s-?posti\w*)(?:\s+address|\s*osoit\w*)?\s+"
    r"(?:is|was|on|oli)\s+((?:[^\s.!?]+(?:\.(?=\w)[^\s.!?]+)*[\s,]*){1,8})",
    re.I,
)

_HETU_MARK = r"(?:[-+]|\bviiva\b|\bmiinus\b|\bplus\b|\bdash\b|\bhyphen\b|\bminus\b|[A-FU-Y]\b)"
_SEP = r"[\s,.]{0,3}"  # between spoken digit groups: "1 3 1, 0 5 2"
HETU = re.compile(rf"((?:\d{_SEP}){{6}})\s*({_HETU_MARK})\s*((?:\d{_SEP}){{3}})([0-9A-Y])\b", re.I)
HETU_CHECK = "0123456789ABCDEFHJKLMNPRSTUVWXY"
_HETU_WORD = {"viiva": "-", "miinus": "-", "minus": "-", "dash": "-", "hyphen": "-", "plus": "+"}

IBAN = re.compile(r"\b([A-Z]{2})\s*(\d\s*\d)((?:\s*[A-Z0-9]){10,30})", re.I)
# IBAN lengths by country (ISO 13616 registry; the countries Finnish callers mostly give).
IBAN_LENGTH = {
    "FI": 18,
    "AX": 18,
    "SE": 24,
    "NO": 15,
    "DK": 18,
    "EE": 20,
    "LV": 21,
    "LT": 20,
    "DE": 22,
    "GB": 22,
    "IE": 22,
    "FR": 27,
    "ES": 24,
    "IT": 27,
    "NL": 18,
    "BE": 16,
    "AT": 20,
    "CH": 21,
    "PL": 28,
    "IS": 26,
}
DIGIT_RUN = re.compile(r"\d(?:[ \t,.-]{0,3}\d)*")
NAME = re.compile(
    r"\b(?:[Mm]y name is|[Tt]his is|[Nn]imeni on|[Mm]inun nimeni on|[Mm]inä olen|[Tt]äällä on)"
    r"\s+([A-ZÅÄÖ][\w'-]+(?:\s+[A-ZÅÄÖ][\w'-]+){0,2})"
)
_WORD = re.compile(r"[^\W\d_]+")
NUMBER_GAP_WORDS = 2
NUMBER_MIN_DIGITS = 4


@dataclass(frozen=True, slots=True)
class Finding:
    label: str
    start: int  # in the original text
    end: int


@dataclass(frozen=True, slots=True)
class Redacted:
    text: str
    findings: tuple[Finding, ...]

    def counts(self) -> dict[str, int]:
        return dict(Counter(f.label for f in self.findings))


def luhn_ok(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2 == 1:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def hetu_ok(code: str) -> bool:
    """``DDMMYY`` + century sign + ``NNN`` + check character, e.g. ``131052-308T``."""
    m = re.fullmatch(r"(\d{6})([-+A-FU-Y])(\d{3})([0-9A-Y])", code.upper())
    if m is None:
        return False
    day, month = int(m[1][:2]), int(m[1][2:4])
    if not (1 <= day <= 31 and 1 <= month <= 12):
        return False
    return HETU_CHECK[int(m[1] + m[3]) % 31] == m[4]


def iban_ok(iban: str) -> bool:
    s = iban.upper()
    if not re.fullmatch(r"[A-Z]{2}\d{2}[A-Z0-9]{10,30}", s):
        return False
    moved = s[4:] + s[:4]
    return int("".join(str(int(c, 36)) for c in moved)) % 97 == 1


def _compact(text: str) -> str:
    return re.sub(r"[\s,.-]", "", text)


def _emails(norm: str) -> Iterator[tuple[int, int]]:
    for m in EMAIL.finditer(norm):
        yield m.start(), m.end()
    for m in MAIL_INTRO.finditer(norm):
        yield m.start(1), m.start(1) + len(m[1].rstrip(" ,"))


def _ibans(norm: str) -> Iterator[tuple[int, int]]:
    for m in IBAN.finditer(norm):
        # the longest prefix of the match that checks (the regex may run into later text)
        length = IBAN_LENGTH.get(m[1].upper())
        chars = [(i, c) for i, c in enumerate(m.group(), m.start()) if not c.isspace()]
        if (
            length is not None
            and len(chars) >= length
            and iban_ok("".join(c for _, c in chars[:length]))
        ):
            yield m.start(), chars[length - 1][0] + 1


def _hetus(norm: str) -> Iterator[tuple[int, int]]:
    for m in HETU.finditer(norm):
        mark = _HETU_WORD.get(m[2].lower(), m[2])
        if hetu_ok(_compact(m[1]) + mark + _compact(m[3]) + m[4]):
            yield m.start(), m.end()


def _cards(norm: str) -> Iterator[tuple[int, int]]:
    for m in DIGIT_RUN.finditer(norm):
        positions = [i for i, c in enumerate(m.group(), m.start()) if c.isdigit()]
        digits = "".join(norm[i] for i in positions)
        # the whole run, or a 16-digit card at its start or end (a window anywhere inside
        # would pass Luhn one time in ten)
        windows = [(0, len(digits))] if 13 <= len(digits) <= 19 else []
        if len(digits) > 16:
            windows += [(0, 16), (len(digits) - 16, len(digits))]
        for first, last in windows:
            chunk = digits[first:last]
            if luhn_ok(chunk) and len(set(chunk)) > 1:
                yield positions[first], positions[last - 1] + 1
                break


def _phones(norm: str) -> Iterator[tuple[int, int]]:
    for match in phonenumbers.PhoneNumberMatcher(norm, "FI", leniency=phonenumbers.Leniency.VALID):
        yield match.start, match.end
    for m in re.finditer(r"\+?\d(?:[ \t,.-]{0,3}\d){5,14}", norm):
        digits = re.sub(r"\D", "", m.group())
        if not (m.group().startswith("+") or digits.startswith(("0", "358"))):
            continue
        try:
            parsed = phonenumbers.parse(("+" if m.group().startswith("+") else "") + digits, "FI")
        except phonenumbers.NumberParseException:
            continue
        if phonenumbers.is_possible_number(parsed):
            yield m.start(), m.end()


def _names(norm: str) -> Iterator[tuple[int, int]]:
    for m in NAME.finditer(norm):
        yield m.start(1), m.end(1)
    for m in KNOWN_NAMES.finditer(norm):
        yield m.start(), m.end()


def _numbers(norm: str, taken: list[tuple[int, int]]) -> Iterator[tuple[int, int]]:
    """Runs of >= 4 digits (outside the spans already taken), up to two words apart."""
    free = [
        m
        for m in re.finditer(r"\d+", norm)
        if not any(s < m.end() and m.start() < e for s, e in taken)
    ]
    group: list[re.Match[str]] = []

    def done() -> Iterator[tuple[int, int]]:
        if sum(len(g.group()) for g in group) >= NUMBER_MIN_DIGITS:
            yield group[0].start(), group[-1].end()

    for m in free:
        if group:
            gap = norm[group[-1].end() : m.start()]
            if len(_WORD.findall(gap)) > NUMBER_GAP_WORDS or any(
                s < m.start() and group[-1].end() < e for s, e in taken
            ):
                yield from done()
                group = []
        group.append(m)
    if group:
        yield from done()


def redact(text: str) -> Redacted:
    """``text`` with every identifier found replaced by its placeholder."""
    n = normalise(text)
    norm = n.text
    taken: list[tuple[int, int, str]] = []

    def take(label: str, spans: Iterator[tuple[int, int]]) -> None:
        for s, e in spans:
            if s < e and not any(ts < e and s < te for ts, te, _ in taken):
                taken.append((s, e, label))

    take("EMAIL", _emails(norm))
    take("IBAN", _ibans(norm))
    take("HETU", _hetus(norm))
    take("CARD", _cards(norm))
    take("PHONE", _phones(norm))
    take("NAME", _names(norm))
    take("NUMBER", _numbers(norm, [(s, e) for s, e, _ in taken]))
    return _apply(n, taken)


def _apply(n: Normalised, taken: list[tuple[int, int, str]]) -> Redacted:
    spans = sorted((*n.original_span(s, e), label) for s, e, label in taken)
    merged: list[Finding] = []
    for s, e, label in spans:
        if merged and s < merged[-1].end:  # two findings in one original word
            last = merged[-1]
            merged[-1] = Finding(last.label, last.start, max(last.end, e))
            continue
        merged.append(Finding(label, s, e))
    out: list[str] = []
    pos = 0
    for f in merged:
        out.append(n.original[pos : f.start])
        out.append(f"[{f.label}]")
        pos = f.end
    out.append(n.original[pos:])
    return Redacted("".join(out), tuple(merged))
