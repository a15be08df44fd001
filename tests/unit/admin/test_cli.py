"""`linja tenant|number|user` through the real entry point (:func:`ivr.cli.main`) with
Postgres down: bad input is exit 2 with every bad option named, decided before the database
is asked (so nothing can have changed); a command that reaches the database exits 1."""

from __future__ import annotations

import io
import json
import sys
from collections.abc import Callable, Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ivr.admin import validation as v
from ivr.admin.operations import page_limit
from ivr.cli import UsageError, build_parser, main
from tests.support import closed_tcp_port


@pytest.fixture(autouse=True)
def postgres_down(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("LINJA_PG_PORT", str(closed_tcp_port()))
    monkeypatch.setenv("LINJA_DB_APP_PASSWORD", "unused-in-these-tests")
    yield


PARSER = build_parser()


def run(argv: list[str], stdin: str = "", *, entry: bool = True) -> tuple[int, str, str]:
    """``linja argv`` in this process: through ``main`` (``entry``), or through a parser built
    once, as ``main`` does it (building the whole parser takes ~60 ms)."""
    out, err = io.StringIO(), io.StringIO()
    old = sys.stdout, sys.stderr, sys.stdin
    sys.stdout, sys.stderr, sys.stdin = out, err, io.StringIO(stdin)
    try:
        if entry:
            code = main(argv)
        else:
            args = PARSER.parse_args(argv)
            try:
                code = args.func(args)
            except UsageError:
                code = 2
    except SystemExit as exc:  # argparse: a missing or unknown option
        code = int(exc.code or 0)
    finally:
        sys.stdout, sys.stderr, sys.stdin = old
    return code, out.getvalue(), err.getvalue()


def test_every_bad_option_is_named_and_json_has_them_too() -> None:
    code, out, err = run(
        ["tenant", "add", "Bad!", "--name", " ", "--language", "de", "--time-zone", "Mars/X",
         "--recording-retention", "40m", "--case-retention", "3x", "--json"]
    )  # fmt: skip
    assert code == 2
    for option in ("SLUG", "--name", "--language", "--time-zone", "--recording-retention",
                   "--case-retention"):  # fmt: skip
        assert f"linja: error: {option}: " in err
    assert set(json.loads(out)["errors"]) == {
        "SLUG", "--name", "--language", "--time-zone", "--recording-retention",
        "--case-retention",
    }  # fmt: skip


def test_a_good_command_reaches_the_database_and_fails_with_1() -> None:
    code, _, err = run(["tenant", "add", "acme", "--name", "Acme Oy", "--recording-retention",
                        "90d"])  # fmt: skip
    assert code == 1 and "database" in err


def test_no_password_in_argv_and_no_terminal_is_exit_2() -> None:
    code, _, err = run(["user", "add", "anna", "--name", "Anna", "--role", "team", "--tenant",
                        "acme"])  # fmt: skip
    assert code == 2 and "--password-stdin" in err
    code, _, _ = run(["user", "add", "anna", "--name", "A", "--role", "team", "--password", "x"])
    assert code == 2  # argparse: there is no such option


def test_an_empty_tenant_set_is_refused() -> None:
    code, _, err = run(["tenant", "set", "acme"])
    assert code == 2 and "nothing to change" in err


OPTION_VALUES = st.one_of(
    st.text(st.characters(codec="utf-8", exclude_characters="\x00"), max_size=12),
    st.sampled_from(
        [
            "",
            "0d",
            "37m",
            "3y",
            "Europe/Nowhere",
            "de",
            "Operator",
            "x",
            "-1",
            "Ab",
            "a" * 70,
            "1.5m",
            "0",
            "201",
        ]
    ),
).filter(lambda text: not text.startswith("-"))  # an option-looking value is argparse's


def bad(rule: Callable[[object], object]) -> st.SearchStrategy[str]:
    """Values the rule refuses (the CLI hands options over as strings)."""

    def refused(text: str) -> bool:
        try:
            rule(text)
        except (v.FieldError, v.Invalid):
            return True
        return False

    return OPTION_VALUES.filter(refused)


def _limit(text: object) -> object:
    return page_limit(text)


TENANT_RULES = {"--language": v.language, "--time-zone": v.time_zone,
                "--recording-retention": v.retention, "--voice-message-retention": v.retention,
                "--case-retention": v.retention, "--name": v.display_name}  # fmt: skip
BAD_COMMANDS = st.one_of(
    st.sampled_from(sorted(TENANT_RULES)).flatmap(
        lambda opt: bad(TENANT_RULES[opt]).map(
            lambda val: ["tenant", "add", "acme", "--name", "N", opt, val]
            if opt != "--name" else ["tenant", "add", "acme", "--name", val])),
    st.sampled_from(sorted(TENANT_RULES)).flatmap(
        lambda opt: bad(TENANT_RULES[opt]).map(lambda val: ["tenant", "set", "acme", opt, val])),
    bad(v.slug).map(lambda slug: ["tenant", "add", slug, "--name", "N"]),
    bad(v.service_number).map(
        lambda num: ["number", "add", num, "--tenant", "acme", "--service", "bulletin"]),
    bad(v.service_kind).map(
        lambda kind: ["number", "add", "500", "--tenant", "acme", "--service", kind]),
    bad(v.login).map(
        lambda login: ["user", "add", login, "--name", "N", "--role", "team", "--tenant", "acme",
                       "--password-stdin"]),
    bad(v.role).map(
        lambda role: ["user", "add", "anna", "--name", "N", "--role", role, "--tenant", "acme",
                      "--password-stdin"]),
    bad(v.phone_login).map(lambda digits: ["user", "set-phone-login", "anna", "--phone-login",
                                           digits, "--pin-stdin"]),
    st.tuples(st.sampled_from(["tenant", "user", "number"]), bad(_limit)).map(
        lambda cl: [cl[0], "list", "--limit", cl[1]]),
    st.lists(OPTION_VALUES, max_size=3).map(lambda rest: ["user", "passwd", *rest, "--bogus"]),
)  # fmt: skip


@settings(max_examples=500, deadline=None, suppress_health_check=list(HealthCheck))
@given(BAD_COMMANDS)
def test_generated_malformed_commands_exit_2_before_the_database(argv: list[str]) -> None:
    code, _, err = run(argv, stdin="long-enough-pw\n", entry=False)
    assert code == 2, (argv, err)
    assert "Traceback" not in err and "database" not in err
