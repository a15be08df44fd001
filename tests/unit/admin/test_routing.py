"""`number add` warns when the dialplan or the flow files do not route the number."""

from __future__ import annotations

from pathlib import Path

from ivr.admin.routing import number_warnings

CONF = """[linja-inbound]
exten => 300,1,Stasis(linja,menu,acme)
 same => n,Hangup()
exten => 301,1,Stasis(linja,announcement,acme)
exten => 302,1,Stasis(linja,menu,other)
"""


FLOW = """tenant = "acme"
language = "en"
entry = "main"

[prompts.welcome]
text = "Welcome."

[prompts.goodbye]
text = "Goodbye."

[menus.main]
prompt = "welcome"

[menus.main.options]
"1" = "hangup:goodbye"
"""


def dialplan(tmp_path: Path, *, flow_file: str | None = FLOW) -> Path:
    (tmp_path / "flows").mkdir()
    (tmp_path / "linja.conf").write_text(CONF)
    if flow_file is not None:
        (tmp_path / "flows" / "acme.toml").write_text(flow_file)
    return tmp_path


def test_a_routed_number_has_no_warning(tmp_path: Path) -> None:
    d = dialplan(tmp_path)
    assert number_warnings(d, "300", "acme", "callcenter") == []
    assert number_warnings(d, "301", "acme", "bulletin") == []


def test_an_unrouted_number_is_told_with_the_line_to_add(tmp_path: Path) -> None:
    (w,) = number_warnings(dialplan(tmp_path), "399", "acme", "bulletin")
    assert "does not route 399" in w and "exten => 399,1,Stasis(linja,announcement,acme)" in w


def test_another_tenant_or_flow_is_told_with_file_and_line(tmp_path: Path) -> None:
    d = dialplan(tmp_path)
    assert number_warnings(d, "302", "acme", "callcenter") == [
        "linja.conf:5: the dialplan routes 302 to tenant 'other'"
    ]
    (w,) = number_warnings(d, "301", "acme", "taxi")
    assert w.startswith("linja.conf:4:") and "needs 'menu'" in w


def test_a_menu_number_needs_the_tenants_flow_file(tmp_path: Path) -> None:
    (w,) = number_warnings(dialplan(tmp_path, flow_file=None), "300", "acme", "callcenter")
    assert "flows/acme.toml" in w


def test_a_flow_file_that_does_not_check_is_told_with_its_lines(tmp_path: Path) -> None:
    broken = FLOW.replace('"1" = "hangup:goodbye"', '"1" = "queue:nowhere"')
    (w,) = number_warnings(dialplan(tmp_path, flow_file=broken), "300", "acme", "callcenter")
    assert w.startswith("flows/acme.toml:") and "nowhere" in w and "dialplan check" in w


def test_a_missing_dialplan_directory_is_a_warning(tmp_path: Path) -> None:
    (w,) = number_warnings(tmp_path / "nope", "300", "acme", "callcenter")
    assert "no dialplan directory" in w
