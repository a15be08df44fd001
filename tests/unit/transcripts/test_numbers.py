"""Spoken numbers to digits (issue 18): Finnish and English, digit by digit and grouped."""

from __future__ import annotations

import pytest

from ivr.transcripts.numbers import normalise, split_finnish


@pytest.mark.parametrize(
    ("spoken", "digits"),
    [
        ("nolla neljä nolla, yksi kaksi kolme", "0 4 0, 1 2 3"),
        ("kaksikymmentäkolme", "23"),
        ("neljätoista", "14"),
        ("viisisataa kaksikymmentä", "520"),
        ("kaksi sataa", "200"),
        ("neljä tuhatta viisisataa", "4500"),
        ("yksikaksi", "1 2"),
        ("yks kaks kolme", "1 2 3"),
        ("kymmenen", "10"),
        ("oh four oh", "0 4 0"),
        ("twenty three", "23"),
        ("forty-five sixty seven", "45 67"),
        ("double five", "5 5"),
        ("triple nine", "9 9 9"),
        ("two thousand twenty four", "2024"),
        ("one hundred twelve", "112"),
        ("twenty three four", "23 4"),
        ("Nolla Neljä", "0 4"),
    ],
)
def test_number_words_become_digits(spoken: str, digits: str) -> None:
    assert normalise(spoken).text == digits


@pytest.mark.parametrize(
    "text",
    ["toista kertaa", "kuukausi", "someone else", "satama on kiinni", "onion", "I am fine"],
)
def test_other_words_stay(text: str) -> None:
    assert normalise(text).text == text


def test_a_suffix_alone_is_no_number() -> None:
    assert split_finnish("toista") is None
    assert split_finnish("kymmentä") is None
    assert split_finnish("kolmetoista") == [("digit", 3), ("teen_suffix", 0)]


def test_spans_map_back_to_the_original_words() -> None:
    n = normalise("soita yksi kaksi nyt")
    start = n.text.index("1")
    assert n.original_span(start, start + 1) == (6, 16)  # "yksi kaksi": one group
    later = n.text.index("nyt")
    assert n.original[slice(*n.original_span(later, later + 3))] == "nyt"
