"""The .conf checks, one at a time (the tenant "acme" of BASE_FLOWS exists)."""

from __future__ import annotations

from ivr.flowdefs import check_definitions
from tests.unit.flowdefs.conftest import MakeDir
from tests.unit.flowdefs.support import BASE_FLOWS


def conf_errors(make_dir: MakeDir, conf: str, **flows: str) -> list[str]:
    directory = make_dir(conf=conf, flows=flows or {"acme": BASE_FLOWS})
    return [str(e) for e in check_definitions(directory)[1]]


def test_statement_syntax(make_dir: MakeDir) -> None:
    conf = """\
        exten => 1,1,Hangup()
        [in]
         same => n,Hangup()
        exen => 100,1,Answer()
        exten => 101
        exten => 102,1
        exten => 103,x,Answer()
        exten => 104,0,Answer()
        this is not a statement
        exten => 105,1,Set(X=${CUT(Y,-,1))
        exten => 106,1,Playback(a)b
        exten => ,1,Answer()
        include =>
    """
    assert conf_errors(make_dir, conf) == [
        "linja.conf:1: 'exten' outside of any [context]",
        "linja.conf:3: 'same' without an 'exten' before it in context 'in'",
        "linja.conf:4: unknown statement 'exen' (expected exten, same, eswitch, ignorepat, "
        "include, lswitch, switch)",
        "linja.conf:5: extension '101': missing priority and application",
        "linja.conf:6: extension '102' priority 1: missing application",
        "linja.conf:7: extension '103': bad priority 'x'",
        "linja.conf:8: extension '104': bad priority '0'",
        "linja.conf:9: expected 'exten => ...' or another 'key => value' line, "
        "got 'this is not a statement'",
        "linja.conf:10: extension '105' priority 1: unbalanced braces in 'Set(X=${CUT(Y,-,1))'",
        "linja.conf:11: extension '106' priority 1: 'Playback(a)b' is not an application call "
        "like Name(args)",
        "linja.conf:12: 'exten' without an extension: 'exten => ,1,Answer()'",
        "linja.conf:13: 'include' without a value",
    ]


def test_duplicate_priorities_follow_n_and_same(make_dir: MakeDir) -> None:
    conf = """\
        [in]
        exten => 300,1,Answer()
         same => n,Wait(1)
         same => n(end),Hangup()
        exten => 300,3,Hangup()
        exten => 300,hint,PJSIP/agent1
        exten => 300,hint,PJSIP/agent2
        exten => 301,1,Answer()
         same => 2,Hangup()
    """
    assert conf_errors(make_dir, conf) == [
        "linja.conf:5: context 'in': extension '300' priority 3 is already defined at linja.conf:4",
        "linja.conf:7: context 'in': extension '300' priority hint is already defined "
        "at linja.conf:6",
    ]


def test_duplicates_across_files_in_the_same_context(make_dir: MakeDir) -> None:
    directory = make_dir(conf="[in]\nexten => 100,1,Answer()\n", flows={"acme": BASE_FLOWS})
    (directory / "more.conf").write_text(
        "[other]\nexten => 100,1,Answer()\n[in]\nexten => 100,1,Hangup()\n"
    )
    assert [str(e) for e in check_definitions(directory)[1]] == [
        "more.conf:4: context 'in': extension '100' priority 1 is already defined at linja.conf:2"
    ]


def test_comments_and_settings_contexts(make_dir: MakeDir) -> None:
    conf = """\
        [general]
        static=yes
        writeprotect=no
        [globals]
        FOO=bar
        [in] ; the inbound numbers
        ;-- a block comment
        exten => 100,1,Stasis(linja,menuu,acme)
        --;
        exten => 100,1,Set(X=a\\;b) ; escaped semicolon
        exten => 101,1,Stasis(linja,menu,acme)   ; Stasis(linja,menuu,acme)
        #include "other.conf"
    """
    assert conf_errors(make_dir, conf) == []


def test_stasis_routes(make_dir: MakeDir) -> None:
    conf = """\
        [in]
        exten => 100,1,Stasis(linja,announcement,nobody)
        exten => 101,1,Stasis(linja,announcement,acme,main)
        exten => 102,1,Stasis(linja,menu)
        exten => 103,1,Stasis(linja,${FLOW},acme)
        exten => 104,1,Stasis(linja,menu,${TENANT})
        exten => 105,1,Stasis(other-app,whatever)
        exten => 106,1,Stasis(linja,agent-login,nobody)
        exten => 107,1,Stasis(linja,agent-login,acme)
        exten => 108,1,Stasis(linja,menu,acme,main,extra)
        exten => 109,1,stasis(linja,menu,acme,${MENU})
        exten => 110,1,Stasis(linja,menu,acme,nosuch)
        exten => 111,1,Stasis(linja,menu,acme,)
    """
    assert conf_errors(make_dir, conf) == [
        "linja.conf:3: Stasis(linja,announcement,acme,main): flow 'announcement' takes "
        "no arguments after the tenant",
        "linja.conf:4: Stasis(linja,menu): expected Stasis(linja,<flow>,<tenant>[,<entry menu>])",
        "linja.conf:8: Stasis(linja,agent-login,nobody): unknown tenant 'nobody' "
        "(no flows/nobody.toml)",
        "linja.conf:10: Stasis(linja,menu,acme,main,extra): flow 'menu' takes at most an entry "
        "menu after the tenant",
        "linja.conf:12: Stasis(linja,menu,acme,nosuch): tenant 'acme' has no menu 'nosuch'",
    ]


def test_a_menu_route_to_a_broken_tenant_file_is_not_unknown(make_dir: MakeDir) -> None:
    conf = "[in]\nexten => 100,1,Stasis(linja,menu,acme,main)\n"
    assert conf_errors(make_dir, conf, acme='tenant = "acme\n') == [
        "flows/acme.toml:1: TOML syntax error: Illegal character '\\n' (column 15)"
    ]


def test_a_callback_entry_must_name_a_queue_of_the_tenant(make_dir: MakeDir) -> None:
    # The busy prompt's "press 1" (issue 15): Stasis(linja,menu,<tenant>,callback:<queue>).
    conf = """\
        [in]
        exten => 100,1,Stasis(linja,menu,acme,callback:sales)
        exten => 101,1,Stasis(linja,menu,acme,callback:nosuch)
    """
    assert conf_errors(make_dir, conf) == [
        "linja.conf:3: Stasis(linja,menu,acme,callback:nosuch): tenant 'acme' has no queue "
        "'nosuch'",
    ]
