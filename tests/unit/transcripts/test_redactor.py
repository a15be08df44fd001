"""Redaction before storage (issue 18): every identifier kind, spoken and written, with its
checksum where it has one; ordinary words and numbers stay."""

from __future__ import annotations

import pytest

from ivr.transcripts.quality import leaked
from ivr.transcripts.redactor import hetu_ok, iban_ok, luhn_ok, redact


@pytest.mark.parametrize(
    ("text", "label", "identifier"),
    [
        ("Numeroni on 040 123 4567.", "PHONE", "0401234567"),
        (
            "soita nolla neljä nolla, yksi kaksi kolme, neljä viisi kuusi seitsemän",
            "PHONE",
            "0401234567",
        ),
        ("my number is oh four oh, one two three, four five six seven", "PHONE", "0401234567"),
        ("call +358 40 123 4567 please", "PHONE", "358401234567"),
        ("mail john.smith@example.com now", "EMAIL", "john.smith@example.com"),
        ("it is john dot smith at example dot com", "EMAIL", "john.smith@example.com"),
        (
            "se on matti piste meikäläinen ät esimerkki piste fi",
            "EMAIL",
            "matti.meikäläinen@esimerkki.fi",
        ),
        ("tunnus 131052-308T kiitos", "HETU", "131052308T"),
        ("yksi kolme yksi nolla viisi kaksi viiva kolme nolla kahdeksan T", "HETU", "131052308T"),
        ("card 4111 1111 1111 1111 thanks", "CARD", "4111111111111111"),
        (
            "neljä viisi kolme yhdeksän, yksi neljä kahdeksan kahdeksan, nolla kolme neljä kolme,"
            " kuusi neljä kuusi seitsemän",
            "CARD",
            "4539148803436467",
        ),
        ("code is one three one, oh five two dash three oh eight T", "HETU", "131052308T"),
        (
            "four one one one one one one one one one one one one one one one",
            "CARD",
            "4111111111111111",
        ),
        ("tilinumero FI21 1234 5600 0007 85", "IBAN", "FI2112345600000785"),
        ("my name is John Smith and", "NAME", "John Smith"),
        ("nimeni on Matti Meikäläinen.", "NAME", "Matti Meikäläinen"),
        ("asiakasnumero 5 5 5 8 1 2", "NUMBER", "555812"),
        ("the code is 12, uh, 34 ok", "NUMBER", "1234"),
        ("tilaus kaksikymmentäkolme neljäkymmentäviisi", "NUMBER", "2345"),
    ],
)
def test_identifiers_become_placeholders(text: str, label: str, identifier: str) -> None:
    out = redact(text)
    assert f"[{label}]" in out.text, out.text
    assert not leaked(identifier, out.text), out.text


@pytest.mark.parametrize(
    "text",
    [
        "Hei, minulla on kysymys laskusta.",
        "I have one question about 3 invoices.",
        "We will be at the office at ten.",
        "Soitin kaksi kertaa eilen.",
        "The meeting is at noon, dot the i's.",
        "Olen Helsingistä.",
    ],
)
def test_ordinary_sentences_are_kept(text: str) -> None:
    out = redact(text)
    assert out.text == text
    assert out.findings == ()


def test_an_address_ends_at_the_full_stop() -> None:
    out = redact("My email is john dot smith at example dot com. My code is short.")
    assert out.text == "My email is [EMAIL]. My code is short."


def test_a_failed_checksum_is_still_a_number() -> None:
    """131052-308A fails the HETU check, 4111 1111 1111 1112 the Luhn check: neither gets
    the specific label, but their digits are removed all the same."""
    hetu = redact("tunnus 131052-308A")
    assert "[HETU]" not in hetu.text and "[NUMBER]" in hetu.text
    card = redact("card 4111 1111 1111 1112")
    assert "[CARD]" not in card.text
    assert not leaked("4111111111111112", card.text)


def test_three_digits_stay_and_far_apart_digits_are_not_joined() -> None:
    assert redact("room 101 please").text == "room 101 please"
    text = "I called 2 times, then waited for a very long time, 3 days"
    assert redact(text).text == text


def test_several_findings_and_counts() -> None:
    out = redact("Puhelin 040 123 4567, sähköposti matti@esimerkki.fi, tunnus 131052-308T.")
    assert out.text == "Puhelin [PHONE], sähköposti [EMAIL], tunnus [HETU]."
    assert out.counts() == {"PHONE": 1, "EMAIL": 1, "HETU": 1}


def test_an_unrelated_prefix_is_no_iban() -> None:
    out = redact("My number is 040 123 4567 and more")
    assert "[IBAN]" not in out.text and "[PHONE]" in out.text


def test_a_half_heard_address_after_the_word_email() -> None:
    assert redact("my email is on mymple.com").text == "my email is [EMAIL]"
    heard = "My email is on not Smith, I'm not full. Bye."
    assert redact(heard).text == "My email is [EMAIL]. Bye."
    assert redact("Sähköpostiosoitteeni on maasti pipi. Kiitos.").text == (
        "Sähköpostiosoitteeni on [EMAIL]. Kiitos."
    )
    assert redact("visit mymple.com").text == "visit mymple.com"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Tässä Matti, virtanen ät", "Tässä [NAME], [NAME] ät"),
        ("puhuin Matin kanssa, soitin Virtaselle", "puhuin [NAME] kanssa, soitin [NAME]"),
        ("Heikin ja Jukan laskut", "[NAME] ja [NAME] laskut"),
        ("John's invoice, ask Korhosta", "[NAME] invoice, ask [NAME]"),
    ],
)
def test_known_names_wherever_they_stand_and_inflected(text: str, expected: str) -> None:
    assert redact(text).text == expected


@pytest.mark.parametrize(
    "text",
    [
        "Virta katkesi ja anna minun kertoa, tulen pian.",
        "Ensimmäinen marja, toinen satu; aallon laine.",
        "Please mark it, I will call Brown Street.",
    ],
)
def test_names_that_are_everyday_words_stay(text: str) -> None:
    assert redact(text).text == text


def test_checksums() -> None:
    assert hetu_ok("131052-308T") and not hetu_ok("131052-308U")
    assert hetu_ok("010101A123N") is (("0123456789ABCDEFHJKLMNPRSTUVWXY"[10101123 % 31]) == "N")
    assert not hetu_ok("321352-308T")  # no 32nd day
    assert luhn_ok("4111111111111111") and not luhn_ok("4111111111111112")
    assert iban_ok("FI2112345600000785") and not iban_ok("FI2112345600000786")
