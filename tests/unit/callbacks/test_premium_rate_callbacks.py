"""Issue 17 item 8, callbacks to international premium-rate numbers (toll fraud): which
numbers a tenant's callbacks may dial. Before the fix only Finnish 060x/070x were refused;
+979 (international premium rate), 0044 909 (UK premium rate), +881 (satellite), Finnish
service numbers 0100/020 were accepted and dialled up to ``max_attempts`` times."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from ivr.flowdefs.model import CallbackNumbers
from ivr.telephony.numbers import InvalidNumber, callable_number, check_callable, parse_number

DEFAULT = CallbackNumbers()  # a flow file without [callbacks]: FI mobile + fixed line


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("+979 123 456 789", "premium-rate numbers are not called back"),  # intl. premium
        ("00979123456789", "premium-rate numbers are not called back"),
        ("0044 909 879 0000", "premium-rate numbers are not called back"),  # UK 09xx
        ("+44 909 879 0000", "premium-rate numbers are not called back"),
        ("+881 6 1234 5678", "numbers of +881... (non-geographic) are not called back"),
        ("0100 12345", "service (UAN) numbers are not called back"),
        ("0100 100", "service (UAN) numbers are not called back"),
        ("020 1234567", "service (UAN) numbers are not called back"),
        ("+358 20 1234567", "service (UAN) numbers are not called back"),
        ("0600 12345", "premium-rate numbers are not called back"),
        ("0700 123 456", "premium-rate numbers are not called back"),
        ("+358 600 12345", "premium-rate numbers are not called back"),
        ("0800 12345", "toll-free numbers are not called back"),
        ("+46 70 123 45 67", "numbers of SE are not called back"),  # foreign mobile
        ("+97912345678", "not a valid number"),  # +979 with a wrong length
        ("12345", "starts with 0"),
        ("040 abc", "only digits"),
        ("", "empty"),
        ("+0044909", "country code never starts with 0"),
        ("+999 123 456 789", "no such country code"),
    ],
)
def test_callbacks_to_international_premium_rate_numbers_are_refused(
    text: str, reason: str
) -> None:
    with pytest.raises(InvalidNumber) as err:
        callable_number(text, DEFAULT)
    assert reason in err.value.reason


@pytest.mark.parametrize(
    ("text", "e164", "kind"),
    [
        ("040 123 4567", "+358401234567", "mobile"),
        ("050 123 4567", "+358501234567", "mobile"),
        ("+358 40 123 4567", "+358401234567", "mobile"),
        ("00358 50 1234567", "+358501234567", "mobile"),
        ("*358401234567", "+358401234567", "mobile"),
        ("09 1234 567", "+35891234567", "fixed_line"),
        ("+358 9 1234 567", "+35891234567", "fixed_line"),
        ("00358 9 1234567", "+35891234567", "fixed_line"),
    ],
)
def test_callbacks_to_finnish_mobile_and_geographic_numbers_are_accepted(
    text: str, e164: str, kind: str
) -> None:
    number = callable_number(text, DEFAULT)
    assert (number.e164, number.number_type, number.region) == (e164, kind, "FI")


def test_callbacks_a_tenant_may_allow_other_countries_and_types() -> None:
    nordic = CallbackNumbers(allowed_countries=("FI", "SE"), allowed_types=("mobile", "uan"))
    assert callable_number("+46 70 123 45 67", nordic).e164 == "+46701234567"
    assert callable_number("020 1234567", nordic).e164 == "+358201234567"
    with pytest.raises(InvalidNumber, match="fixed-line numbers are not called back"):
        callable_number("09 1234 567", nordic)  # not listed: refused
    with pytest.raises(InvalidNumber, match="numbers of GB are not called back"):
        callable_number("+44 7400 123456", nordic)  # a UK mobile


@dataclass(frozen=True)
class _Anything:
    """A policy that lists every type, premium rate included (the schema refuses that)."""

    allowed_countries: tuple[str, ...] = ("FI", "GB", "001")
    allowed_types: tuple[str, ...] = ("premium_rate", "mobile", "fixed_line", "uan")


@pytest.mark.parametrize("text", ["+979 123 456 789", "0044 909 879 0000", "0600 12345"])
def test_callbacks_to_premium_rate_numbers_are_refused_whatever_the_policy_says(
    text: str,
) -> None:
    with pytest.raises(InvalidNumber, match="premium-rate"):
        check_callable(parse_number(text), _Anything())


def test_the_refusal_names_the_input_and_not_more_than_a_line() -> None:
    with pytest.raises(InvalidNumber) as err:
        callable_number("0044 909 879 0000", DEFAULT)
    assert str(err.value).startswith("'0044 909 879 0000' is not a callable number")
