"""The queue bench's own logic: its caller scenario and the two-calls-at-once count."""

from __future__ import annotations

from pathlib import Path

from ivr.bench.queue import overlaps, waiting_scenario


def test_the_bench_caller_times_invite_to_200_and_runs_no_shell(tmp_path: Path) -> None:
    text = waiting_scenario(tmp_path).read_text()
    assert 'start_rtd="1"' in text and 'rtd="1"' in text
    assert "exec command" not in text
    assert "dtmf_2833_2.pcap" in text  # the caller still presses 2


def test_overlapping_calls_of_one_phone_are_counted() -> None:
    assert overlaps([(0.0, 2.0), (2.5, 3.0), (4.0, 6.0)]) == 0
    assert overlaps([(0.0, 2.0), (1.5, 3.0), (2.9, 4.0)]) == 2
    assert overlaps([]) == 0
