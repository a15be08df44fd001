"""Webhook payload validation (pure): normalised values out, every bad field named."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pytest

from ivr.contacts.intake import (
    MAX_MESSAGE,
    InvalidSubmission,
    Submission,
    parse_form,
    parse_json,
    validate,
)
from ivr.flowdefs.model import CallbackNumbers
from storage.events import Channel
from storage.repositories.intake_tokens import PREFIX, new_token, token_digest
from tests.support import closed_tcp_port


def errors_of(channel: Channel, data: dict[str, object], **kw: Any) -> dict[str, str]:
    with pytest.raises(InvalidSubmission) as exc:
        validate(channel, data, **kw)
    return exc.value.errors


@pytest.mark.parametrize(
    ("raw", "e164"),
    [
        ("0401234567", "+358401234567"),
        ("040 123 4567", "+358401234567"),
        ("040-123 45 67", "+358401234567"),
        ("09 1234 567", "+35891234567"),
        ("+358401234567", "+358401234567"),
        ("+358 (0)40 123 4567", "+358401234567"),
        ("+358 040 123 4567", "+358401234567"),
        ("00358401234567", "+358401234567"),
    ],
)
def test_phone_numbers_are_normalised_to_e164(raw: str, e164: str) -> None:
    got = validate(Channel.SMS, {"phone": raw, "message": "hei"})
    assert got.phone == e164


@pytest.mark.parametrize(
    "raw",
    ["12345", "040", "+0401234567", "+1234", "+1234567890123456", "358401234567", "0040 abc",
     "040 123 4567 ext 5", "00 0401234567", "+358-40-123-4567-8901-2"],
)  # fmt: skip
def test_bad_phone_numbers_are_refused(raw: str) -> None:
    assert "not a phone number" in errors_of(Channel.SMS, {"phone": raw, "message": "x"})["phone"]


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("a@b.fi", "a@b.fi"),
        ("Matti.Meikalainen+taksi@Esimerkki.FI", "Matti.Meikalainen+taksi@esimerkki.fi"),
        ("  asiakas@example.com ", "asiakas@example.com"),
        ("pekka@sähkö.fi", "pekka@sähkö.fi"),
    ],
)
def test_email_addresses(raw: str, clean: str) -> None:
    assert validate(Channel.EMAIL, {"email": raw, "message": "m"}).email == clean


@pytest.mark.parametrize(
    "raw",
    ["ei-osoite", "@example.fi", "a@", "a@b", "a..b@c.fi", ".a@c.fi", "a b@c.fi", "a@-c.fi",
     "a@c.123", "a@c_d.fi", "x" * 65 + "@c.fi", "a@" + "b" * 64 + ".fi", "a@b.fi\nBcc: x@y.fi"],
)  # fmt: skip
def test_bad_email_addresses_are_refused(raw: str) -> None:
    errors = errors_of(Channel.EMAIL, {"email": raw, "message": "m"})
    assert set(errors) == {"email"}


def test_required_fields_per_channel() -> None:
    assert errors_of(Channel.SMS, {}) == {"phone": "required", "message": "required"}
    assert errors_of(Channel.EMAIL, {"message": "x"}) == {"email": "required"}
    way_back = "give a phone number or an e-mail address (or both)"
    assert errors_of(Channel.CHAT, {"message": "x", "name": "N"}) == {"phone": way_back}
    assert errors_of(Channel.WEB, {"message": "x", "phone": "", "email": None}) == {
        "phone": way_back
    }
    # A bad phone is reported as bad, not as missing.
    assert "not a phone number" in errors_of(Channel.WEB, {"message": "x", "phone": "1"})["phone"]


def test_unknown_and_channel_foreign_fields_are_refused() -> None:
    errors = errors_of(
        Channel.SMS,
        {"phone": "0401234567", "message": "x", "subject": "s", "headers": {}, "ip": "1.2.3.4"},
    )
    assert errors == {
        "subject": "not accepted for sms",
        "headers": "unknown field",
        "ip": "unknown field",
    }
    assert errors_of(Channel.CHAT, {"message": "x", "email": "a@b.fi", "to": "1"}) == {
        "to": "not accepted for chat"
    }


def test_json_types_are_checked() -> None:
    errors = errors_of(
        Channel.WEB,
        {"message": 5, "phone": 401234567, "name": True, "email": {"a": 1}, "queue": [1]},
    )
    assert errors == {
        "message": "must be a string, not a number",
        "phone": "must be a string, not a number",
        "name": "must be a string, not a boolean",
        "email": "must be a string, not an object",
        "queue": "must be a string, not an array",
    }


def test_lengths_and_control_characters() -> None:
    base = {"phone": "0401234567"}
    assert validate(Channel.SMS, {**base, "message": "x" * MAX_MESSAGE}).message == "x" * 5000
    assert "longer than 5000" in errors_of(Channel.SMS, {**base, "message": "x" * 5001})["message"]
    assert (
        "longer than 200"
        in errors_of(Channel.SMS, {**base, "message": "m", "name": "n" * 201})["name"]
    )
    assert "control character" in errors_of(Channel.SMS, {**base, "message": "a\x00b"})["message"]
    assert (
        "control character"
        in errors_of(Channel.SMS, {**base, "message": "m", "name": "a\nb"})["name"]
    )
    # Newlines and tabs are fine in a message; CRLF becomes LF, edges are trimmed.
    got = validate(Channel.SMS, {**base, "message": "  rivi 1\r\n\trivi 2  "})
    assert got.message == "rivi 1\n\trivi 2"


def test_subject_goes_first_in_the_message_and_queue_names() -> None:
    got = validate(
        Channel.EMAIL,
        {"email": "a@b.fi", "subject": "Tilaus", "message": "Auto klo 7", "queue": "taxi-1"},
    )
    assert got.message == "Tilaus\n\nAuto klo 7" and got.queue == "taxi-1"
    assert errors_of(Channel.EMAIL, {"email": "a@b.fi", "message": "m", "queue": "ä"}) == {
        "queue": "letters, digits, _ and - only"
    }


def test_idempotency_key_from_header_or_body() -> None:
    body = {"phone": "0401234567", "message": "m"}
    assert validate(Channel.SMS, body, idempotency_header="k-1").idempotency_key == "k-1"
    assert validate(Channel.SMS, {**body, "idempotency_key": "k-2"}).idempotency_key == "k-2"
    assert (
        validate(
            Channel.SMS, {**body, "idempotency_key": "k-3"}, idempotency_header="k-3"
        ).idempotency_key
        == "k-3"
    )
    assert errors_of(Channel.SMS, {**body, "idempotency_key": "a"}, idempotency_header="b") == {
        "idempotency_key": "differs from the Idempotency-Key header"
    }
    assert set(errors_of(Channel.SMS, body, idempotency_header="x" * 129)) == {"Idempotency-Key"}
    assert set(errors_of(Channel.SMS, {**body, "idempotency_key": "väärä avain"})) == {
        "idempotency_key"
    }


def test_fingerprint_tells_a_retry_from_a_different_submission() -> None:
    a = validate(Channel.SMS, {"phone": "040 123 4567", "message": "hei"}, idempotency_header="k")
    b = validate(Channel.SMS, {"phone": "+358401234567", "message": " hei "})
    c = validate(Channel.SMS, {"phone": "+358401234567", "message": "moi"})
    assert a.fingerprint() == b.fingerprint()  # same after normalising; the key is not part
    assert a.fingerprint() != c.fingerprint()
    d = Submission(Channel.WEB, "hei", phone="+358401234567")
    assert d.fingerprint() != a.fingerprint()  # the channel is part of it


def test_parse_json_and_form() -> None:
    assert parse_json(b'{"a": "b"}') == {"a": "b"}
    for body, fragment in (
        (b"{", "not valid JSON"),
        (b"[1]", "expected a JSON object, got an array"),
        (b'"x"', "expected a JSON object, got a string"),
        (b"\xff", "not UTF-8"),
        (b"[" * 100_000, "JSON"),
    ):
        with pytest.raises(InvalidSubmission) as exc:
            parse_json(body)
        assert fragment in exc.value.errors["body"]
    with pytest.raises(InvalidSubmission) as exc:
        parse_json(b'{"a": "1", "a": "2"}')
    assert exc.value.errors == {"a": "given more than once"}

    assert parse_form(b"name=Liisa&message=Hei%20sinne&phone=") == {
        "name": "Liisa", "message": "Hei sinne", "phone": ""
    }  # fmt: skip
    with pytest.raises(InvalidSubmission) as exc:
        parse_form(b"a=1&a=2")
    assert exc.value.errors == {"a": "given more than once"}
    with pytest.raises(InvalidSubmission):
        parse_form("&".join(f"f{i}=x" for i in range(40)).encode())


def test_phone_is_not_a_written_channel() -> None:
    assert errors_of(Channel.PHONE, {"message": "x"}) == {
        "channel": "phone is not a written channel"
    }


def test_intake_tokens_are_random_and_stored_as_their_sha256() -> None:
    a, b = new_token(), new_token()
    assert a != b and a.startswith(PREFIX) and len(a) >= 40
    assert token_digest(a) == hashlib.sha256(a.encode()).hexdigest() != token_digest(b)
    assert a not in token_digest(a)
    token_digest("\udcff")  # an undecodable byte from a header never raises


@pytest.mark.parametrize(
    "argv",
    [
        ["intake", "token", "add", "--tenant", "../x"],
        ["intake", "token", "add", "--tenant", "demo", "--expires-in", "0d"],
        ["intake", "token", "add", "--tenant", "demo", "--expires-in", "91d"],
        ["intake", "token", "rotate", "--tenant", "demo", "--overlap", "24"],
        ["intake", "token", "rotate", "--tenant", "demo", "--overlap=-1h"],
        ["intake", "token", "revoke", "--tenant", "demo", "--id", "not-a-uuid"],
    ],
)
def test_cli_refuses_bad_token_arguments_before_touching_the_database(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, argv: list[str]
) -> None:
    from ivr.cli import main

    monkeypatch.setenv("LINJA_STATE_DIR", str(tmp_path))
    monkeypatch.setenv("LINJA_PG_PORT", str(closed_tcp_port()))
    assert main(argv) == 2  # a database call would be exit 1 (nothing listens there)


@pytest.mark.parametrize(
    ("raw", "why"),
    [
        ("+979 123 456 789", "premium-rate"),
        ("0044 909 879 0000", "premium-rate"),
        ("+881 6 1234 5678", "non-geographic"),
        ("0100 12345", "service (UAN)"),
        ("020 1234567", "service (UAN)"),
        ("0600 12345", "premium-rate"),
        ("+46 70 123 45 67", "numbers of SE"),  # foreign: not on the default list
    ],
)
def test_callbacks_to_international_premium_rate_numbers_are_refused_at_intake(
    raw: str, why: str
) -> None:
    """Issue 17 item 8: the sender's number is a way back; one the tenant's callbacks may
    not dial is a field error (400), not a stored request."""
    errors = errors_of(Channel.SMS, {"phone": raw, "message": "hei"})
    assert list(errors) == ["phone"]
    assert errors["phone"].startswith("not a number we can call back: ")
    assert why in errors["phone"]


def test_intake_follows_the_tenants_callback_allow_list() -> None:
    nordic = CallbackNumbers(allowed_countries=("FI", "SE"), allowed_types=("mobile",))
    got = validate(Channel.SMS, {"phone": "+46 70 123 45 67", "message": "hei"}, numbers=nordic)
    assert got.phone == "+46701234567"
    errors = errors_of(Channel.WEB, {"phone": "09 1234 567", "message": "hei"}, numbers=nordic)
    assert errors == {
        "phone": "not a number we can call back: fixed-line numbers are not called back"
    }
