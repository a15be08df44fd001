"""What ``POST /api/bulletins/{number}`` accepts (:func:`ivr.http.bulletins.parse_new_bulletin`):
every bad field named, local times in the tenant's zone."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from ivr.http.bulletins import parse_new_bulletin
from ivr.http.problems import BadInput

HKI = ZoneInfo("Europe/Helsinki")
NOW = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)


def test_a_text_bulletin_with_a_local_window() -> None:
    new = parse_new_bulletin(
        {"text": " Vesikatko. ", "language": "fi", "starts_at": "2026-12-01T12:00",
         "ends_at": "2026-12-01T16:00+02:00"},
        HKI, NOW,
    )  # fmt: skip
    assert new.text == "Vesikatko." and new.audio is None
    assert new.starts_at == datetime(2026, 12, 1, 10, 0, tzinfo=UTC)
    assert new.ends_at is not None and new.ends_at - new.starts_at == timedelta(hours=4)


def test_no_text_or_audio_a_bad_language_and_a_past_end_are_all_named() -> None:
    with pytest.raises(BadInput) as bad:
        parse_new_bulletin(
            {"text": "  ", "language": "de", "ends_at": "2026-11-30T10:00Z", "colour": "x"},
            HKI, NOW,
        )  # fmt: skip
    assert bad.value.errors == {
        "text": "give a text or an audio file",
        "language": "one of fi, sv, en",
        "ends_at": "must be after the start",
        "colour": "unknown field",
    }


def test_unreadable_audio_is_refused_beside_its_field() -> None:
    junk = base64.b64encode(b"not audio at all").decode()
    with pytest.raises(BadInput) as bad:
        parse_new_bulletin({"audio": junk}, HKI, NOW)
    assert set(bad.value.errors) == {"audio"}
    with pytest.raises(BadInput) as not_base64:
        parse_new_bulletin({"audio": "***"}, HKI, NOW)
    assert set(not_base64.value.errors) == {"audio"}
