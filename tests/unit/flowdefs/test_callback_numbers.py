"""Issue 17 item 8 (callbacks to international premium-rate numbers): the tenant's callback
allow-list, ``[callbacks]`` of its flow file: defaults, a table that loads and survives the
snapshot, and bad values reported with file and line."""

from __future__ import annotations

from pathlib import Path

from ivr.flowdefs import check_definitions, read_snapshot, write_snapshot
from ivr.flowdefs.model import CallbackNumbers
from tests.unit.flowdefs.conftest import MakeDir
from tests.unit.flowdefs.support import BASE_FLOWS


def errors_of(directory: Path) -> list[str]:
    return [str(e) for e in check_definitions(directory)[1]]


def test_callbacks_default_to_finnish_mobile_and_fixed_line_numbers(make_dir: MakeDir) -> None:
    flows, errors = check_definitions(make_dir())
    assert errors == []
    assert flows["acme"].callbacks == CallbackNumbers(("FI",), ("mobile", "fixed_line"))


def test_callbacks_allow_list_loads_and_survives_a_snapshot(
    make_dir: MakeDir, tmp_path: Path
) -> None:
    text = (
        BASE_FLOWS + '\n[callbacks]\nallowed_countries = ["FI", "SE"]\nallowed_types = ["mobile"]\n'
    )
    flows, errors = check_definitions(make_dir(flows={"acme": text}))
    assert errors == []
    assert flows["acme"].callbacks == CallbackNumbers(("FI", "SE"), ("mobile",))
    write_snapshot(tmp_path / "flows.json", flows)
    assert read_snapshot(tmp_path / "flows.json")["acme"].callbacks == flows["acme"].callbacks


def test_callbacks_bad_allow_list_names_file_and_line(make_dir: MakeDir) -> None:
    text = BASE_FLOWS + (
        "\n[callbacks]\n"  # 20
        'allowed_countries = ["FI",\n'  # 21
        '  "XX",\n'  # 22
        '  "FI"]\n'  # 23
        'allowed_types = ["mobile", "premium_rate"]\n'  # 24
        "allowed_type = []\n"  # 25
    )
    assert errors_of(make_dir(flows={"acme": text})) == [
        "flows/acme.toml:22: callbacks: allowed_countries: 'XX' is not an ISO 3166 country code "
        "libphonenumber knows (FI, SE...)",
        "flows/acme.toml:23: callbacks: allowed_countries: 'FI' is listed twice",
        "flows/acme.toml:24: callbacks: allowed_types: 'premium_rate' is not a number type "
        "(fixed_line, mobile, toll_free, shared_cost, voip, personal_number, pager, uan, "
        "voicemail)",
        "flows/acme.toml:25: callbacks: unknown key 'allowed_type' (did you mean 'allowed_types'?)",
    ]


def test_callbacks_empty_or_wrongly_typed_lists_are_refused(make_dir: MakeDir) -> None:
    text = BASE_FLOWS + '\n[callbacks]\nallowed_countries = []\nallowed_types = "mobile"\n'
    assert errors_of(make_dir(flows={"acme": text})) == [
        "flows/acme.toml:21: callbacks: 'allowed_countries' is empty: no callback could be made",
        "flows/acme.toml:22: callbacks: 'allowed_types' must be an array of strings, not string",
    ]


def test_callbacks_must_be_a_table(make_dir: MakeDir) -> None:
    table = BASE_FLOWS.replace('entry = "main"\n', 'entry = "main"\ncallbacks = 1\n')
    assert errors_of(make_dir(flows={"acme": table})) == [
        "flows/acme.toml:4: callbacks must be a table, not integer"
    ]
