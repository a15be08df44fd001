"""Sweep settings are checked up front; the report says what happened in one line."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from retention.sweeper import SweepConfig, SweepReport


@pytest.mark.parametrize("kwargs", [{"batch": 0}, {"batch": 50_001}, {"rate": 0}, {"rate": -1}])
def test_bad_config_is_refused(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        SweepConfig(**kwargs)  # type: ignore[arg-type]


def test_summary_lines() -> None:
    now = datetime(2026, 11, 23, tzinfo=UTC)
    assert "another sweep is running" in SweepReport(now, busy=True).summary()
    dry = SweepReport(now, dry_run=True, deleted={"recording": 3, "voice_message": 0})
    assert "would delete 3 recordings, 0 voice messages" in dry.summary()
    real = SweepReport(now, deleted={"recording": 1}, recovered=2, cases_blanked=4, orphans_young=1)
    text = real.summary()
    assert "deleted 1 recordings" in text and "2 half-done" in text and "4 cases" in text
    assert "1 new files without a row yet kept" in text


def test_summary_names_the_failed_step_and_what_the_others_did() -> None:
    now = datetime(2026, 11, 23, tzinfo=UTC)
    report = SweepReport(now, deleted={"recording": 2, "voice_message": 0}, orphans_removed=3)
    report.cases_blanked = 40_000
    report.failed["cases"] = "StorageUnavailable: database unreachable"
    text = report.summary()
    assert "FAILED anonymising cases: StorageUnavailable: database unreachable" in text
    assert "deleted 2 recordings" in text and "3 stray files removed" in text
    assert report.progress("cases") == "40000 cases anonymised"
    assert report.progress("recordings") == "2 recordings deleted"
    assert "FAILED" not in SweepReport(now).summary()
