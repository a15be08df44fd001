"""The data-subject normaliser: one person, many spellings of their number."""

from __future__ import annotations

import pytest

from storage.contacts import BadContact, Subject, normalise_email, normalise_number, number_forms


@pytest.mark.parametrize(
    "raw",
    ["0401234567", "+358401234567", "358401234567", "00358401234567", "+358 40 123 4567",
     "040-123 4567", "(040) 1234567", "+358 (0)40 123 4567", "+358 040 123 4567",
     "00358 040 1234567"],
)  # fmt: skip
def test_finnish_spellings_are_one_number(raw: str) -> None:
    assert normalise_number(raw) == "+358401234567"


def test_foreign_and_short_numbers() -> None:
    assert normalise_number("+46701234567") == "+46701234567"
    assert normalise_number("0046701234567") == "+46701234567"
    assert normalise_number("100") == "100"  # a service number / extension stays as dialled


@pytest.mark.parametrize("raw", ["", "abc", "12", "+", "040 12a", "1" * 25, "00" + "1" * 21])
def test_garbage_numbers_are_refused(raw: str) -> None:
    with pytest.raises(BadContact):
        normalise_number(raw)


def test_number_forms_cover_every_stored_spelling() -> None:
    forms = number_forms("040 123 4567")
    assert set(forms) == {"+358401234567", "358401234567", "00358401234567", "0401234567"}
    assert number_forms("+46701234567") == ("+46701234567", "46701234567", "0046701234567")
    assert number_forms("100") == ("100",)


def test_email_is_case_insensitive_and_checked() -> None:
    assert normalise_email("  Maija.Meikalainen@Example.FI ") == "maija.meikalainen@example.fi"
    for bad in ("", "no-at-sign", "a@b@c", "a b@c.fi"):
        with pytest.raises(BadContact):
            normalise_email(bad)


def test_subject_needs_something_and_never_logs_it_whole() -> None:
    with pytest.raises(BadContact):
        Subject.of()
    s = Subject.of(number="0401234567", email="X@Y.fi")
    assert (s.number, s.email) == ("+358401234567", "x@y.fi")
    assert "401234567" not in s.describe() and "x@y.fi" not in s.describe()


def test_digests_find_the_same_person_in_any_spelling_and_nobody_else() -> None:
    from storage.contacts import digest_matches, subject_digests

    maija = Subject.of(number="0401234567", email="Maija@example.fi")
    digests = subject_digests(maija)
    assert len(digests) == 2 and all(d.startswith("pbkdf2-sha256$") for d in digests)
    assert not any("401234567" in d or "maija" in d for d in digests)
    assert any(digest_matches(d, Subject.of(number="+358 40 123 4567")) for d in digests)
    assert any(digest_matches(d, Subject.of(email="MAIJA@EXAMPLE.FI")) for d in digests)
    assert not any(digest_matches(d, Subject.of(number="0401234568")) for d in digests)
    assert not digest_matches("garbage", maija)
    # A fresh salt every time: two erasures of one person do not share a digest.
    assert set(subject_digests(maija)).isdisjoint(digests)
