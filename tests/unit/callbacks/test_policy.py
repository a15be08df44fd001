"""Retry policy: delay, dialling hours, max attempts; and the flow-file callback table."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from pathlib import Path

from ivr.callbacks.policy import dial_hours, next_attempt_at, next_open
from ivr.flowdefs.flowfile import parse_flow_file
from ivr.flowdefs.model import CallbackConfig, CallbackHours, OpeningHours, Target

OFFICE = OpeningHours(
    "Europe/Helsinki",
    {d: ((time(8), time(16)),) for d in range(5)},  # mon-fri 08-16 local
    Target("hangup", "closed"),
)
MON_10_LOCAL = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)  # Monday 10:00 in Helsinki (UTC+2)


def test_retry_after_the_delay_inside_the_hours() -> None:
    policy = CallbackConfig(max_attempts=3, retry_delay=60)
    assert next_attempt_at(policy, 1, MON_10_LOCAL, OFFICE) == MON_10_LOCAL + timedelta(minutes=1)
    assert next_attempt_at(policy, 2, MON_10_LOCAL, None) == MON_10_LOCAL + timedelta(minutes=1)


def test_gives_up_after_max_attempts() -> None:
    policy = CallbackConfig(max_attempts=3, retry_delay=60)
    assert next_attempt_at(policy, 3, MON_10_LOCAL, OFFICE) is None
    assert next_attempt_at(policy, 7, MON_10_LOCAL, None) is None


def test_a_retry_after_closing_moves_to_the_next_opening() -> None:
    friday_1559 = datetime(2026, 11, 27, 13, 59, tzinfo=UTC)  # Fri 15:59 local
    policy = CallbackConfig(retry_delay=300)
    monday_8 = datetime(2026, 11, 30, 6, 0, tzinfo=UTC)  # Mon 08:00 local
    assert next_attempt_at(policy, 1, friday_1559, OFFICE) == monday_8
    assert next_open(OFFICE, MON_10_LOCAL) == MON_10_LOCAL
    assert next_open(None, MON_10_LOCAL) == MON_10_LOCAL
    never = OpeningHours("Europe/Helsinki", {}, Target("hangup", "closed"))
    assert next_open(never, MON_10_LOCAL) is None


def test_queue_hours_override_the_tenant_hours() -> None:
    own = CallbackConfig(hours=CallbackHours("UTC", {0: ((time(12), time(13)),)}))
    hours = dial_hours(own, OFFICE)
    assert hours is not None and hours.timezone == "UTC"
    assert next_open(hours, MON_10_LOCAL) == datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
    assert dial_hours(CallbackConfig(), OFFICE) is OFFICE


FLOW = """
tenant = "acme"
language = "fi"
entry = "main"
[prompts.welcome]
text = "Hei"
[prompts.goodbye]
text = "Hei hei"
[menus.main]
prompt = "welcome"
[menus.main.options]
"1" = "queue:support"
"2" = "callback:support"
[queues.support]
agents = ["agent1"]
[queues.support.callback]
offer_in_queue = true
max_attempts = 2
retry_delay = 5
ring_timeout = 12
[queues.support.callback.hours]
timezone = "Europe/Helsinki"
mon-fri = "08:00-16:00"
"""


def _parse(tmp_path: Path, text: str):  # type: ignore[no-untyped-def]
    flows = tmp_path / "flows"
    flows.mkdir(exist_ok=True)
    path = flows / "acme.toml"
    path.write_text(text)
    return parse_flow_file(path, "flows/acme.toml")


def test_flow_file_callback_table(tmp_path: Path) -> None:
    parsed = _parse(tmp_path, FLOW)
    assert parsed.errors == []
    assert parsed.flows is not None
    cb = parsed.flows.queues["support"].callback
    assert cb.offer_in_queue and cb.key == "1"
    assert (cb.max_attempts, cb.retry_delay, cb.ring_timeout) == (2, 5.0, 12.0)
    assert cb.hours is not None and cb.hours.week[0] == ((time(8), time(16)),)


def test_flow_file_callback_errors_name_file_and_line(tmp_path: Path) -> None:
    bad = FLOW.replace("max_attempts = 2", "max_attempts = 0\nretry_dely = 5").replace(
        'mon-fri = "08:00-16:00"', 'mon-fri = "16:00-08:00"'
    )
    parsed = _parse(tmp_path, bad)
    text = "\n".join(str(e) for e in parsed.errors)
    assert "flows/acme.toml:" in text
    assert "'max_attempts' must be at least 1" in text
    assert "unknown key 'retry_dely' (did you mean 'retry_delay'?)" in text
    assert "closes before it opens" in text
    lines = {e.line for e in parsed.errors}
    assert None not in lines and len(lines) == 3


def test_callback_policy_survives_the_flow_snapshot(tmp_path: Path) -> None:
    from ivr.flowdefs import read_snapshot, write_snapshot

    parsed = _parse(tmp_path, FLOW)
    assert parsed.flows is not None
    write_snapshot(tmp_path / "flows.json", {"acme": parsed.flows})
    back = read_snapshot(tmp_path / "flows.json")["acme"]
    assert back.queues["support"].callback == parsed.flows.queues["support"].callback
