"""Callback numbers: parsing what a caller keyed in or what the network sent, in Finnish
national or E.164 form, and deciding whether the service may call it back. Pure: no I/O.

Parsing, formatting and classification are libphonenumber's (the ``phonenumbers`` package,
default region FI); this module adds the forms a caller or a form may use and the callback
allow-list.

Accepted by :func:`parse_number` (spaces, dashes, dots and parentheses are ignored)::

    040 123 4567      Finnish national: trunk prefix 0, then the subscriber number
    09 1234 567       (Helsinki landline)
    +358 40 123 4567  E.164: + country code and subscriber number, 8-15 digits in all
    00358 40 1234567  international prefix 00 = +
    *358401234567     from a phone keypad: a leading * stands for +

Refused with :class:`InvalidNumber` (its ``reason`` says why, for logs and tests): empty or
non-digit input, too short or too long, a national number after +358 written with its trunk
0 (+358 040...), a country code that does not exist. Short numbers (112, 116 117, ...) fail
as too short.

:func:`check_callable` then applies a tenant's allow-list (``[callbacks]`` of its flow file:
countries and number types; Finnish mobile and fixed-line numbers by default). Whatever the
list says, a number libphonenumber does not know as valid, and a premium-rate number, is
never called back: the service would pay for the call (toll fraud).
"""

from __future__ import annotations

import re
from collections.abc import Collection
from dataclasses import dataclass
from typing import Protocol

import phonenumbers
from phonenumbers import NumberParseException, PhoneNumberFormat, PhoneNumberType
from phonenumbers.phonenumberutil import ValidationResult

__all__ = [
    "NUMBER_TYPE_NAMES",
    "InvalidNumber",
    "NumberPolicy",
    "PhoneNumber",
    "callable_number",
    "check_callable",
    "parse_number",
]

FINLAND = "358"
REGION = "FI"  # the region national numbers (trunk 0) belong to
_SEPARATORS = re.compile(r"[\s\-.()/]")
MIN_E164, MAX_E164 = 8, 15
MAX_INPUT = 40

# libphonenumber's types by the names flow files use (``[callbacks] allowed_types``).
NUMBER_TYPE_NAMES: dict[int, str] = {
    PhoneNumberType.FIXED_LINE: "fixed_line",
    PhoneNumberType.MOBILE: "mobile",
    PhoneNumberType.TOLL_FREE: "toll_free",
    PhoneNumberType.PREMIUM_RATE: "premium_rate",
    PhoneNumberType.SHARED_COST: "shared_cost",
    PhoneNumberType.VOIP: "voip",
    PhoneNumberType.PERSONAL_NUMBER: "personal_number",
    PhoneNumberType.PAGER: "pager",
    PhoneNumberType.UAN: "uan",
    PhoneNumberType.VOICEMAIL: "voicemail",
}
_SPOKEN_TYPE = {
    "fixed_line": "fixed-line",
    "toll_free": "toll-free",
    "premium_rate": "premium-rate",
    "shared_cost": "shared-cost",
    "voip": "VoIP",
    "personal_number": "personal",
    "uan": "service (UAN)",
}


class InvalidNumber(ValueError):
    """Not a number the service can call back; ``reason`` is a short English phrase."""

    def __init__(self, text: str, reason: str) -> None:
        shown = text if len(text) <= MAX_INPUT else text[:MAX_INPUT] + "..."
        super().__init__(f"{shown!r} is not a callable number: {reason}")
        self.reason = reason


class NumberPolicy(Protocol):
    """Which numbers a tenant's callbacks may dial (``ivr.flowdefs.model.CallbackNumbers``)."""

    @property
    def allowed_countries(self) -> Collection[str]: ...  # ISO 3166 regions, "FI"

    @property
    def allowed_types(self) -> Collection[str]: ...  # NUMBER_TYPE_NAMES values


@dataclass(frozen=True)
class PhoneNumber:
    e164: str  # "+358401234567"

    @property
    def finnish(self) -> bool:
        return self.e164.startswith("+" + FINLAND)

    @property
    def national(self) -> str:
        """ "0401234567" for a Finnish number, else the E.164 form."""
        if not self.finnish:
            return self.e164
        return "0" + phonenumbers.national_significant_number(self._parsed())

    @property
    def region(self) -> str | None:
        """ISO 3166 region ("FI", "GB"), "001" for a non-geographic number (+800, +881,
        +979), None when libphonenumber knows no region for it."""
        return phonenumbers.region_code_for_number(self._parsed())

    @property
    def number_type(self) -> str | None:
        """One of NUMBER_TYPE_NAMES' values; "fixed_line_or_mobile" where the numbering plan
        does not tell them apart; None when the number is not valid."""
        kind = phonenumbers.number_type(self._parsed())
        if kind == PhoneNumberType.FIXED_LINE_OR_MOBILE:
            return "fixed_line_or_mobile"
        return NUMBER_TYPE_NAMES.get(kind)

    def _parsed(self) -> phonenumbers.PhoneNumber:
        return phonenumbers.parse(self.e164, None)

    def __str__(self) -> str:
        return self.e164


def parse_number(text: str) -> PhoneNumber:
    """The number ``text`` stands for, in E.164; raises :class:`InvalidNumber`. Says nothing
    about whether it may be called back (:func:`check_callable`)."""
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
        if digits.startswith(FINLAND + "0"):
            raise InvalidNumber(text, "no trunk 0 after +358")
        if digits.startswith("0"):
            raise InvalidNumber(text, "a country code never starts with 0")
        if not MIN_E164 <= len(digits) <= MAX_E164:
            raise InvalidNumber(text, f"E.164 numbers have {MIN_E164}-{MAX_E164} digits")
    else:
        _digits_only(text, raw)
        if not raw.startswith("0"):
            raise InvalidNumber(text, "a Finnish number starts with 0 (or write +358...)")
    try:
        # E.164 is parsed with no default region: with one, libphonenumber may read digits
        # after the + as that region's international prefix (+999... became +1...).
        parsed = phonenumbers.parse(raw, None if raw.startswith("+") else REGION)
    except NumberParseException as exc:
        raise InvalidNumber(text, _parse_error(exc)) from None
    possible = phonenumbers.is_possible_number_with_reason(parsed)
    if possible == ValidationResult.INVALID_COUNTRY_CODE:
        raise InvalidNumber(text, "no such country code")
    if possible not in (ValidationResult.IS_POSSIBLE, ValidationResult.IS_POSSIBLE_LOCAL_ONLY):
        cc = parsed.country_code
        where = "a Finnish number" if cc == int(FINLAND) else f"a number of +{cc}"
        raise InvalidNumber(text, f"wrong length for {where}")
    return PhoneNumber(phonenumbers.format_number(parsed, PhoneNumberFormat.E164))


def check_callable(number: PhoneNumber, policy: NumberPolicy) -> None:
    """Raises :class:`InvalidNumber` unless ``policy`` lets callbacks dial ``number``."""
    kind, region = number.number_type, number.region
    if kind is None:
        raise InvalidNumber(number.e164, "not a valid number (unknown to the numbering plan)")
    if kind == "premium_rate":
        raise InvalidNumber(number.e164, "premium-rate numbers are not called back")
    if region not in policy.allowed_countries:
        where = f"+{number.e164[1:4]}... (non-geographic)" if region == "001" else region
        raise InvalidNumber(number.e164, f"numbers of {where} are not called back")
    kinds = ("fixed_line", "mobile") if kind == "fixed_line_or_mobile" else (kind,)
    if not any(k in policy.allowed_types for k in kinds):
        spoken = _SPOKEN_TYPE.get(kind, kind.replace("_", " "))
        raise InvalidNumber(number.e164, f"{spoken} numbers are not called back")


def callable_number(text: str, policy: NumberPolicy) -> PhoneNumber:
    """:func:`parse_number`, then :func:`check_callable`."""
    number = parse_number(text)
    try:
        check_callable(number, policy)
    except InvalidNumber as exc:
        raise InvalidNumber(text, exc.reason) from None
    return number


def _digits_only(text: str, digits: str) -> None:
    if not digits.isascii() or not digits.isdigit():
        raise InvalidNumber(text, "only digits (and a leading + or 00) are allowed")


def _parse_error(exc: NumberParseException) -> str:
    if exc.error_type == NumberParseException.INVALID_COUNTRY_CODE:
        return "no such country code"
    if exc.error_type in (
        NumberParseException.TOO_SHORT_NSN,
        NumberParseException.TOO_SHORT_AFTER_IDD,
    ):
        return "too short"
    if exc.error_type == NumberParseException.TOO_LONG:
        return "too long"
    return "not a phone number"
