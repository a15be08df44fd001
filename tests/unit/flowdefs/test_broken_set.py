"""`linja dialplan check` on the broken files in tests/unit/flowdefs/broken/: every error,
with its file and line, in one run."""

from __future__ import annotations

import re

import pytest

from ivr.flowdefs import DefinitionErrors, check_definitions, load_definitions
from tests.unit.flowdefs.support import BROKEN_DIR, run_cli

EXPECTED = """\
flows/acme.toml:9: prompt 'bye': give exactly one of text, sound, file (got 2)
flows/acme.toml:14: menu 'main': prompt: unknown prompt 'welcom'
flows/acme.toml:15: menu 'main': 'retries' must be at least 1, not 0
flows/acme.toml:16: menu 'main': 'first_digit_timeout' must be a number of seconds, not string
flows/acme.toml:18: menu 'main': unknown key 'colour'
flows/acme.toml:22: menu 'main': option '2': unknown queue 'salse'
flows/acme.toml:24: menu 'main': option '4': unknown target kind 'qeueu' in 'qeueu:sales' \
(known: menu, queue, callback, voicemail, bulletin, external, hangup)
flows/acme.toml:25: menu 'main': option '5': external number '+358-40' is not digits \
(with an optional leading +)
flows/acme.toml:26: menu 'main': option 'x' is not a digit code (only 0-9, * and #)
flows/acme.toml:27: menu 'main': option '12' has 2 digits but max_digits is 1
flows/acme.toml:31: menu 'sales': max_digits is 2 but the longest option has 1 digit
flows/acme.toml:35: menu 'sales': option '0': unknown queue 'nosuch'
flows/acme.toml:37: menu 'orphan' is unreachable (not reached from the entry menu 'main' \
or a Stasis(linja,menu,acme,<menu>) route)
flows/acme.toml:45: queue 'sales': no agents
flows/acme.toml:46: queue 'sales': strategy 'round-robin' is not one of longest-idle, ring-all
flows/acme.toml:47: queue 'sales': 'ring_timeout' must be greater than 0, not 0
flows/acme.toml:50: queue 'support': no 'overflow' given, and the default hangup:goodbye \
needs a prompt 'goodbye'
flows/acme.toml:51: queue 'support': agent 'agent1' is listed twice
flows/dup.toml:14: menu 'main': duplicate option '1' (first at line 12)
flows/dup.toml:15: menu 'main': duplicate option '2' (first at line 13)
flows/syntax.toml:6: TOML syntax error: Illegal character '\\n' (column 57)
flows/wrongname.toml:1: tenant 'acme' does not match the file name \
(expected 'wrongname' in wrongname.toml)
flows/wrongname.toml:2: language 'de' is not one of fi, sv, en
flows/wrongname.toml:3: entry: unknown menu 'start'
flows/wrongname.toml:6: prompt 'goodbye': file 'missing.wav' not found (relative to wrongname.toml)
flows/wrongname.toml:9: hours: unknown time zone 'Europe/Helsingfors'
flows/wrongname.toml:12: hours: fri: day 'fri' is already given by 'mon-fri'
flows/wrongname.toml:13: hours: sat: '16:00-08:00' closes before it opens \
(write an interval over midnight as two days)
flows/wrongname.toml:14: hours: sun: intervals overlap
flows/wrongname.toml:15: hours: unknown key 'holidays' \
(expected timezone, closed, a day (mon, tue, ..., sun) or a range like mon-fri)
linja.conf:6: extension '200': missing priority (expected exten => 200,<priority>,<app>)
linja.conf:7: Stasis(linja,menu,ghost): unknown tenant 'ghost' (no flows/ghost.toml)
linja.conf:8: Stasis(linja,menuu,acme): unknown flow 'menuu' \
(known: agent-login, announcement, menu)
linja.conf:9: Stasis(linja,menu,acme,nosuch): tenant 'acme' has no menu 'nosuch'
linja.conf:10: extension '204' priority 1: unbalanced parentheses in 'Stasis(linja,menu,acme'
linja.conf:11: context 'linja-inbound': extension '100' priority 1 is already defined \
at linja.conf:4
linja.conf:15: malformed context header '[linja-other' (expected [name])
"""


def test_check_prints_every_error_with_file_and_line(capsys: pytest.CaptureFixture[str]) -> None:
    code = run_cli("check", "--dir", str(BROKEN_DIR))
    out, err = capsys.readouterr()
    assert code == 1
    assert out == EXPECTED
    assert err == f"linja: 37 error(s) in {BROKEN_DIR}\n"


def test_every_marked_line_is_reported() -> None:
    """Each line the fixtures mark with a "<-" comment has an error, and no other line."""
    _, errors = check_definitions(BROKEN_DIR)
    marked = {
        (path.relative_to(BROKEN_DIR).as_posix(), n)
        for path in [*BROKEN_DIR.glob("*.conf"), *BROKEN_DIR.glob("flows/*.toml")]
        for n, line in enumerate(path.read_text().splitlines(), start=1)
        if re.search(r"[;#]\s*<-", line)
    }
    reported = {(e.file, e.line) for e in errors}
    assert reported == marked


def test_load_raises_with_all_errors_and_loads_nothing() -> None:
    with pytest.raises(DefinitionErrors) as info:
        load_definitions(BROKEN_DIR)
    assert len(info.value.errors) == 37
    assert str(info.value) == EXPECTED.rstrip("\n")
