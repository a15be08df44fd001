"""One check at a time on a small tenant file (BASE_FLOWS, 18 lines, plus the edit)."""

from __future__ import annotations

from pathlib import Path

import pytest

from ivr.flowdefs import check_definitions
from ivr.flowdefs.model import Target
from tests.unit.flowdefs.conftest import MakeDir
from tests.unit.flowdefs.support import BASE_CONF, BASE_FLOWS


def errors_of(directory: Path) -> list[str]:
    return [str(e) for e in check_definitions(directory)[1]]


def test_the_base_file_is_valid(make_dir: MakeDir) -> None:
    flows, errors = check_definitions(make_dir())
    assert errors == []
    assert sorted(flows) == ["acme"]


def test_duplicate_table_header(make_dir: MakeDir) -> None:
    d = make_dir(flows={"acme": BASE_FLOWS + '\n[menus.main]\nprompt = "goodbye"\n'})
    assert errors_of(d) == [
        "flows/acme.toml:20: table [menus.main] is defined twice (first at line 11)"
    ]


def test_duplicate_plain_key(make_dir: MakeDir) -> None:
    text = BASE_FLOWS.replace('language = "fi"\n', 'language = "fi"\nlanguage = "sv"\n')
    assert errors_of(make_dir(flows={"acme": text})) == [
        "flows/acme.toml:3: duplicate key 'language' (first at line 2)"
    ]


def test_duplicate_option_in_an_inline_table(make_dir: MakeDir) -> None:
    text = BASE_FLOWS.replace(
        '[menus.main.options]\n"1" = "queue:sales"\n',
        'options = { "1" = "queue:sales", 1 = "hangup:goodbye" }\n',
    )
    assert errors_of(make_dir(flows={"acme": text})) == [
        "flows/acme.toml:14: menu 'main': duplicate option '1' (first at line 14)"
    ]


def test_dotted_option_keys_get_their_own_line(make_dir: MakeDir) -> None:
    text = BASE_FLOWS.replace(
        '[menus.main.options]\n"1" = "queue:sales"\n',
        'options."1" = "queue:sales"\noptions."2" = "queue:salse"\n',
    )
    assert errors_of(make_dir(flows={"acme": text})) == [
        "flows/acme.toml:15: menu 'main': option '2': unknown queue 'salse'"
    ]


def test_agent_errors_point_at_the_element_of_a_multiline_array(make_dir: MakeDir) -> None:
    text = BASE_FLOWS.replace(
        'agents = ["agent1"]\n', 'agents = [\n  "agent1",\n  "agent 2",\n  "agent1",\n]\n'
    )
    assert errors_of(make_dir(flows={"acme": text})) == [
        "flows/acme.toml:20: queue 'sales': agent 'agent 2' is not an agent login",
        "flows/acme.toml:21: queue 'sales': agent 'agent1' is listed twice",
    ]


def test_missing_agents_key(make_dir: MakeDir) -> None:
    text = BASE_FLOWS.replace('agents = ["agent1"]\n', 'strategy = "ring-all"\n')
    assert errors_of(make_dir(flows={"acme": text})) == [
        "flows/acme.toml:17: queue 'sales': no agents (missing key 'agents')"
    ]


def test_defaults_need_a_goodbye_prompt(make_dir: MakeDir) -> None:
    text = BASE_FLOWS.replace('[prompts.goodbye]\ntext = "Näkemiin"\n', "")
    assert errors_of(make_dir(flows={"acme": text})) == [
        "flows/acme.toml:9: menu 'main': no 'failure' given, and the default hangup:goodbye "
        "needs a prompt 'goodbye'",
        "flows/acme.toml:15: queue 'sales': no 'overflow' given, and the default "
        "hangup:goodbye needs a prompt 'goodbye'",
    ]


def test_types_and_ranges(make_dir: MakeDir) -> None:
    text = (
        BASE_FLOWS.replace(
            'prompt = "welcome"\n',
            'prompt = "welcome"\nretries = true\ninter_digit_timeout = -1\nmax_digits = 0\n',
        )
        + 'max_length = 1.5\nwrap_up = 0\nmoh_class = ""\n'
    )
    assert errors_of(make_dir(flows={"acme": text})) == [
        "flows/acme.toml:13: menu 'main': 'retries' must be an integer, not boolean",
        "flows/acme.toml:14: menu 'main': 'inter_digit_timeout' must be greater than 0, not -1",
        "flows/acme.toml:15: menu 'main': 'max_digits' must be at least 1, not 0",
        "flows/acme.toml:22: queue 'sales': 'max_length' must be an integer, not float",
        "flows/acme.toml:24: queue 'sales': 'moh_class' is empty",
    ]


def test_sections_must_be_tables_and_names_plain(make_dir: MakeDir) -> None:
    text = BASE_FLOWS.replace('[queues.sales]\nagents = ["agent1"]\n', "")
    text = 'queues = "sales"\n' + text + '[menus."my menu"]\nprompt = "welcome"\n'
    assert errors_of(make_dir(flows={"acme": text})) == [
        "flows/acme.toml:1: 'queues' must be a table, not string",
        "flows/acme.toml:16: menu 'main': option '1': unknown queue 'sales'",
        "flows/acme.toml:18: menu name 'my menu' may only use letters, digits, _ and -",
    ]


def test_target_syntax(make_dir: MakeDir) -> None:
    text = BASE_FLOWS.replace(
        '"1" = "queue:sales"\n',
        '"1" = "queue:sales"\n"2" = "sales"\n"3" = "bulletin:abc"\n"4" = "voicemail:"\n'
        '"5" = "external:+358401234567"\n"6" = "hangup:bye"\n"7" = 7\n',
    )
    assert errors_of(make_dir(flows={"acme": text})) == [
        "flows/acme.toml:16: menu 'main': option '2': 'sales' is not a target kind:name",
        "flows/acme.toml:17: menu 'main': option '3': bulletin number 'abc' is not digits",
        "flows/acme.toml:18: menu 'main': option '4': 'voicemail:' is not a target kind:name",
        "flows/acme.toml:20: menu 'main': option '6': unknown prompt 'bye'",
        "flows/acme.toml:21: menu 'main': option '7' must be a target string, not integer",
    ]


def test_unknown_key_suggests_the_right_one(make_dir: MakeDir) -> None:
    text = BASE_FLOWS.replace('entry = "main"\n', 'entry = "main"\nentyr = "x"\n')
    text += "ring_timeot = 5\n"
    assert errors_of(make_dir(flows={"acme": text})) == [
        "flows/acme.toml:4: unknown key 'entyr' (did you mean 'entry'?)",
        "flows/acme.toml:20: queue 'sales': unknown key 'ring_timeot' "
        "(did you mean 'ring_timeout'?)",
    ]


SUB_MENU = """
[menus.sub]
prompt = "welcome"
failure = "hangup:goodbye"
options = { "1" = "queue:sales" }
"""


def test_a_menu_reached_only_from_the_dialplan_is_reachable(make_dir: MakeDir) -> None:
    conf = BASE_CONF + "exten => 201,1,Stasis(linja,menu,acme,sub)\n"
    assert errors_of(make_dir(conf=conf, flows={"acme": BASE_FLOWS + SUB_MENU})) == []


def test_unreachable_menu(make_dir: MakeDir) -> None:
    assert errors_of(make_dir(flows={"acme": BASE_FLOWS + SUB_MENU})) == [
        "flows/acme.toml:20: menu 'sub' is unreachable (not reached from the entry menu 'main' "
        "or a Stasis(linja,menu,acme,<menu>) route)"
    ]


def test_menus_reached_through_overflow_closed_and_failure_targets(make_dir: MakeDir) -> None:
    text = (
        BASE_FLOWS
        + 'overflow = "menu:full"\n'
        + '\n[menus.full]\nprompt = "welcome"\nfailure = "menu:last"\n'
        + 'options = { "1" = "hangup:goodbye" }\n'
        + '\n[menus.last]\nprompt = "welcome"\noptions = { "1" = "hangup:goodbye" }\n'
        + '\n[menus.night]\nprompt = "welcome"\noptions = { "1" = "hangup:goodbye" }\n'
        + '\n[hours]\ntimezone = "UTC"\nclosed = "menu:night"\nmon-fri = "08:00-16:00"\n'
    )
    assert errors_of(make_dir(flows={"acme": text})) == []


def test_tenant_name_and_file_name(make_dir: MakeDir) -> None:
    text = BASE_FLOWS.replace('tenant = "acme"\n', 'tenant = "Acme"\n')
    assert errors_of(make_dir(conf=None, flows={"Acme": text})) == [
        "flows/Acme.toml:1: tenant name 'Acme' (the file name) may only use a-z, 0-9, _ and -"
    ]


def test_missing_required_keys(make_dir: MakeDir) -> None:
    d = make_dir(conf=None, flows={"acme": '[menus.main]\noptions = {"1" = "hangup:x"}\n'})
    assert errors_of(d) == [
        "flows/acme.toml:1: menu 'main': missing key 'prompt'",
        "flows/acme.toml:1: menu 'main': no 'failure' given, and the default hangup:goodbye "
        "needs a prompt 'goodbye'",
        "flows/acme.toml:1: missing key 'entry'",
        "flows/acme.toml:1: missing key 'language'",
        "flows/acme.toml:1: missing key 'tenant'",
        "flows/acme.toml:2: menu 'main': option '1': unknown prompt 'x'",
    ]


def test_prompt_kinds(make_dir: MakeDir) -> None:
    text = BASE_FLOWS + (
        '\n[prompts.beep]\nsound = "beep"\n'
        '\n[prompts.intro]\nfile = "intro.wav"\nlanguage = "en"\n'
        '\n[prompts.none]\nlanguage = "fi"\n'
        '\n[prompts.bad]\nsound = "beep; Dial(x)"\n'
    )
    d = make_dir(flows={"acme": text})
    (d / "flows" / "intro.wav").write_bytes(b"RIFF")
    assert errors_of(d) == [
        "flows/acme.toml:27: prompt 'none': give exactly one of text, sound, file (got 0)",
        "flows/acme.toml:31: prompt 'bad': sound 'beep; Dial(x)' is not an Asterisk sound name",
    ]


def test_queue_timeout_target_is_read_checked_and_reaches_menus(make_dir: MakeDir) -> None:
    """Issue 14: where a caller goes after max_wait (default: the overflow target)."""
    text = (
        BASE_FLOWS
        + 'max_wait = 90\ntimeout = "menu:late"\n'
        + '\n[menus.late]\nprompt = "welcome"\noptions = { "1" = "hangup:goodbye" }\n'
    )
    flows, errors = check_definitions(make_dir(flows={"acme": text}))
    assert errors == []  # menu 'late' is reached only through the timeout target
    sales = flows["acme"].queues["sales"]
    assert (sales.max_wait, sales.timeout) == (90.0, Target("menu", "late"))
    assert sales.timeout_target == Target("menu", "late")


def test_queue_timeout_target_defaults_to_overflow_and_is_checked(make_dir: MakeDir) -> None:
    flows, _ = check_definitions(make_dir(flows={"acme": BASE_FLOWS + 'overflow = "menu:main"\n'}))
    sales = flows["acme"].queues["sales"]
    assert sales.timeout is None and sales.timeout_target == Target("menu", "main")


def test_queue_timeout_target_must_exist(make_dir: MakeDir) -> None:
    bad = BASE_FLOWS + 'timeout = "queue:nowhere"\n'
    assert errors_of(make_dir(flows={"acme": bad})) == [
        "flows/acme.toml:19: queue 'sales': timeout: unknown queue 'nowhere'"
    ]


@pytest.mark.parametrize(
    ("value", "threshold"), [(None, 20.0), ("45", 45.0), ("0.5", 0.5), ("3600", 3600.0)]
)
def test_service_level_threshold_is_per_queue(
    make_dir: MakeDir, value: str | None, threshold: float
) -> None:
    """Issue 14: each queue's service level counts within its own threshold (default 20 s)."""
    text = BASE_FLOWS if value is None else BASE_FLOWS + f"service_level_threshold = {value}\n"
    flows, errors = check_definitions(make_dir(flows={"acme": text}))
    assert errors == []
    assert flows["acme"].queues["sales"].service_level_threshold == threshold


@pytest.mark.parametrize(
    ("value", "why"),
    [
        ("0", "must be greater than 0, not 0"),
        ("-5", "must be greater than 0, not -5"),
        ('"20s"', "must be a number of seconds, not string"),
        ("3601", "must be at most 3600 seconds, not 3601"),
    ],
)
def test_a_bad_service_level_threshold_is_refused_with_file_and_line(
    make_dir: MakeDir, value: str, why: str
) -> None:
    bad = BASE_FLOWS + f"service_level_threshold = {value}\n"
    assert errors_of(make_dir(flows={"acme": bad})) == [
        f"flows/acme.toml:19: queue 'sales': 'service_level_threshold' {why}"
    ]
