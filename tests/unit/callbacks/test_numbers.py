"""Callback number parsing: Finnish national and E.164 forms, and garbage. Which parsed
numbers may be called back: tests/unit/callbacks/test_premium_rate_callbacks.py."""

from __future__ import annotations

import pytest

from ivr.telephony.numbers import InvalidNumber, parse_number


@pytest.mark.parametrize(
    ("text", "e164", "national"),
    [
        ("0401234567", "+358401234567", "0401234567"),
        ("040 123 4567", "+358401234567", "0401234567"),
        ("040-123 45 67", "+358401234567", "0401234567"),
        ("09 1234 567", "+35891234567", "091234567"),
        ("(09) 123.4567", "+35891234567", "091234567"),
        ("050 555 12", "+3585055512", "05055512"),
        ("+358 40 123 4567", "+358401234567", "0401234567"),
        ("00358401234567", "+358401234567", "0401234567"),
        ("*358401234567", "+358401234567", "0401234567"),  # keyed on a phone: * = +
        ("+46 8 123 456 78", "+46812345678", "+46812345678"),
        ("0046812345678", "+46812345678", "+46812345678"),
        ("  0401234567 ", "+358401234567", "0401234567"),
    ],
)
def test_accepts_finnish_and_e164(text: str, e164: str, national: str) -> None:
    number = parse_number(text)
    assert number.e164 == e164
    assert number.national == national
    assert str(number) == e164


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("", "empty"),
        ("   ", "empty"),
        ("- ( )", "empty"),
        ("112", "starts with 0"),
        ("012", "wrong length"),
        ("0401234567890123", "wrong length"),
        ("040123456a", "only digits"),
        ("04012345#7", "only digits"),
        ("040 123 4567; DROP TABLE", "only digits"),
        ("+358 040 123 4567", "trunk 0"),
        ("+0123456789", "country code"),
        ("+1234", "E.164"),
        ("+1234567890123456", "E.164"),
        ("++358401234567", "only digits"),
        ("00 040 123", "country code"),
        ("٠٤٠١٢٣٤٥٦٧", "only digits"),  # Arabic-Indic digits are not dialable
        ("0" * 200, "too long"),
        ("401234567", "starts with 0"),
    ],
)
def test_refuses_garbage_with_a_reason(text: str, why: str) -> None:
    with pytest.raises(InvalidNumber) as err:
        parse_number(text)
    assert why in err.value.reason
    assert len(str(err.value)) < 120  # a huge input is not echoed whole into logs


def test_not_text_is_refused() -> None:
    with pytest.raises(InvalidNumber):
        parse_number(401234567)  # type: ignore[arg-type]
