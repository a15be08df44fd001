"""Who a data subject is: phone numbers and e-mail addresses in one canonical form.

Callers' numbers arrive as dialled or as the network presented them (``0401234567``,
``+358 40 123 4567``, ``00358401234567``, ``358401234567``); they are the same person. A
number is canonicalised to E.164 (``+358401234567``, formatted by libphonenumber) with a
default country code for national forms, and :func:`number_forms` lists every stored
spelling that means it, so a query can match raw stored values with ``IN (...)`` and still
use the index. E-mail addresses compare case-insensitively (whole address lowercased,
trimmed).

Pure functions, no I/O. Bad input raises :class:`BadContact` (a ``ValueError``).
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
from dataclasses import dataclass

import phonenumbers

DEFAULT_COUNTRY = "358"  # Finland

_SEPARATORS = re.compile(r"[\s\-().\u00a0/]")
_DIGITS = re.compile(r"^\+?[0-9]{3,20}$")
_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]{1,255}$")


class BadContact(ValueError):
    """A phone number or e-mail address that cannot identify anyone."""


def normalise_number(raw: str, *, country: str = DEFAULT_COUNTRY) -> str:
    """The E.164 form (``+<country><national>``) of a phone number."""
    text = _SEPARATORS.sub("", raw.strip())
    if not _DIGITS.match(text):
        raise BadContact(f"not a phone number: {raw[:40]!r}")
    if text.startswith("+"):
        result = text
    elif text.startswith("00"):
        result = "+" + text[2:]
    elif text.startswith("0"):
        result = "+" + country + text[1:]
    elif text.startswith(country) and len(text) > len(country) + 5:
        result = "+" + text
    else:
        # A short or unprefixed number (an extension, a service number): kept as dialled.
        result = text
    if not _DIGITS.match(result):
        raise BadContact(f"not a phone number: {raw[:40]!r}")
    return _e164(result)


def _e164(number: str) -> str:
    """libphonenumber's E.164 form of a ``+`` number it can read (``+358 (0)40...``, the
    trunk 0 kept, is ``+35840...``); anything else as it is, so it still matches as stored."""
    if not number.startswith("+"):
        return number
    try:
        parsed = phonenumbers.parse(number, None)
    except phonenumbers.NumberParseException:
        return number
    if not phonenumbers.is_possible_number(parsed):
        return number
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def number_forms(raw: str, *, country: str = DEFAULT_COUNTRY) -> tuple[str, ...]:
    """Every spelling that stores the same number: E.164, without '+', with '00', and the
    national form with a trunk 0 when the number is in the default country."""
    canonical = normalise_number(raw, country=country)
    if not canonical.startswith("+"):
        return (canonical,)
    digits = canonical[1:]
    forms = [canonical, digits, "00" + digits]
    if digits.startswith(country):
        forms.append("0" + digits[len(country) :])
    return tuple(dict.fromkeys(forms))


def normalise_email(raw: str) -> str:
    text = raw.strip().lower()
    if not _EMAIL.match(text):
        raise BadContact(f"not an e-mail address: {raw[:40]!r}")
    return text


@dataclass(frozen=True, slots=True)
class Subject:
    """A data subject by phone number and/or e-mail, canonicalised."""

    number: str | None = None
    email: str | None = None

    @classmethod
    def of(cls, *, number: str | None = None, email: str | None = None) -> Subject:
        if not number and not email:
            raise BadContact("give a phone number or an e-mail address")
        return cls(
            number=normalise_number(number) if number else None,
            email=normalise_email(email) if email else None,
        )

    def number_forms(self) -> tuple[str, ...]:
        return number_forms(self.number) if self.number else ()

    def describe(self) -> str:
        """A label for logs that does not reveal the subject (last digits only)."""
        parts = []
        if self.number:
            parts.append(f"number …{self.number[-3:]}")
        if self.email:
            parts.append("e-mail")
        return " + ".join(parts)


# ----- digests: finding an erasure ledger entry again without keeping the data ------------

_DIGEST_ITERATIONS = 20_000


def _digest(key: str, salt: bytes, iterations: int) -> str:
    return hashlib.pbkdf2_hmac("sha256", key.encode(), salt, iterations).hex()


def _keys(subject: Subject) -> list[str]:
    keys: list[str] = []
    if subject.number:
        keys.append("n:" + subject.number)
    if subject.email:
        keys.append("e:" + subject.email)
    return keys


def subject_digests(subject: Subject, salt: bytes | None = None) -> list[str]:
    """Salted, slow one-way digests (``pbkdf2-sha256$iter$salt$hash``) of the subject's
    canonical number and e-mail, one per identifier, sharing one random salt."""
    salt = salt if salt is not None else os.urandom(16)
    return [
        f"pbkdf2-sha256${_DIGEST_ITERATIONS}${salt.hex()}${_digest(k, salt, _DIGEST_ITERATIONS)}"
        for k in _keys(subject)
    ]


def digest_matches(digest: str, subject: Subject) -> bool:
    """True if ``digest`` was made from one of the subject's identifiers."""
    try:
        scheme, iterations, salt_hex, value = digest.split("$")
        if scheme != "pbkdf2-sha256":
            return False
        salt, rounds = bytes.fromhex(salt_hex), int(iterations)
    except ValueError:
        return False
    return any(hmac.compare_digest(_digest(k, salt, rounds), value) for k in _keys(subject))
