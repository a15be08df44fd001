"""The multi-node stack's layout (issue 19): each node its own address, state dir, Asterisk
instance and RTP slice, the one Postgres and audio store; the Kamailio config rendered from
the template names the nodes and the front address."""

from __future__ import annotations

from pathlib import Path

import pytest

from ivr.config import Settings, project_root
from ivr.stack import agentphones, nodes
from ivr.stack.asterisk import AsteriskServer
from ivr.stack.kamailio import agents_cfg, dispatcher_list, parse_destinations, render
from ivr.stack.proc import StackError


def _base(tmp_path: Path, **extra: object) -> Settings:
    # Every field that matters is given: the LINJA_* environment of the run does not count.
    fields: dict[str, object] = {
        "state_dir": tmp_path / ".run",
        "asterisk_root": tmp_path / "root",
        "asterisk_prefix": "",
        "pg_dir": None,
        "audio_dir": None,
        "pg_host": "",
        "pg_port": 5433,
        "front_address": "",
        "node_addresses": "127.0.0.2,127.0.0.3",
        "bind": "127.0.0.1",
        "sip_port": 5160,
        "ari_port": 8188,
        "http_port": 8180,
        "rtp_start": 21000,
        "rtp_end": 21999,
        "ari_password": "ari-secret",
        "ami_password": "ami-secret",
    }
    return Settings(**(fields | extra))  # type: ignore[arg-type]


def test_each_node_has_its_address_state_instance_and_rtp_slice(tmp_path: Path) -> None:
    base = _base(tmp_path)
    n0, n1 = (nodes.node_settings(base, i, 2) for i in range(2))
    assert (n0.bind, n1.bind) == ("127.0.0.2", "127.0.0.3")
    for attr in ("state_dir", "asterisk_prefix", "sounds_inner", "ari_base_url"):
        values = {getattr(s, attr) for s in (base, n0, n1)}
        assert len(values) == 3, (attr, values)
    (a0, b0), (a1, b1) = sorted([(n0.rtp_start, n0.rtp_end), (n1.rtp_start, n1.rtp_end)])
    assert base.rtp_start <= a0 < b0 < a1 < b1 <= base.rtp_end
    for node in (n0, n1):
        # One database, one audio store, callers accepted from the front end only.
        assert (node.db_host, node.pg_port, node.pg_home) == ("127.0.0.1", 5433, base.pg_home)
        assert node.audio_store_dir == base.audio_store_dir
        assert node.sip_callers_from == base.sip_front == "127.0.0.1"
        assert (node.sip_port, node.ari_port, node.http_port) == (5160, 8188, 8180)
        assert node.state_dir.parent == base.state_dir / "nodes"


def test_the_environment_gives_a_node_controller_its_settings(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    base = _base(tmp_path)
    env = nodes.node_env(base, 1, 2)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    mine = Settings(asterisk_root=tmp_path / "root")
    want = nodes.node_settings(base, 1, 2)
    for attr in (
        "bind",
        "db_host",
        "state_dir",
        "asterisk_prefix",
        "rtp_start",
        "rtp_end",
        "pg_home",
        "audio_store_dir",
        "sip_callers_from",
        "ari_base_url",
    ):
        assert getattr(mine, attr) == getattr(want, attr), attr


def test_more_nodes_than_addresses_or_one_node_is_refused(tmp_path: Path) -> None:
    base = _base(tmp_path)
    with pytest.raises(StackError, match="NODE_ADDRESSES"):
        nodes.node_settings(base, 2, 3)
    with pytest.raises(StackError, match="at least 2"):
        nodes.up(base, 1)


def test_a_node_accepts_calls_from_the_front_end_and_announces_its_own_address(
    tmp_path: Path,
) -> None:
    node = nodes.node_settings(_base(tmp_path, front_address="127.0.0.9"), 0, 2)
    AsteriskServer(node).render()
    pjsip = (AsteriskServer(node).etc / "pjsip.conf").read_text()
    assert "match = 127.0.0.9\n" in pjsip
    assert "bind = 127.0.0.2:5160\n" in pjsip
    assert "external_media_address = 127.0.0.2\n" in pjsip
    assert "external_signaling_address = 127.0.0.2\n" in pjsip


def test_the_kamailio_config_names_the_front_and_every_node(tmp_path: Path) -> None:
    base = _base(tmp_path)
    front = nodes.kamailio(base, 2)
    assert [n.uri for n in front.nodes] == ["sip:127.0.0.2:5160", "sip:127.0.0.3:5160"]
    listing = dispatcher_list(front.nodes)
    assert "1 sip:127.0.0.2:5160 0 0 name=n0\n1 sip:127.0.0.3:5160 0 0 name=n1\n" in listing
    template = (project_root() / "kamailio-conf" / "kamailio.cfg").read_text()
    text = render(
        template,
        {
            k: "X"
            for k in (
                "RUN_DIR",
                "MODDIR",
                "CHILDREN",
                "INVITE_TIMEOUT_MS",
                "PING_INTERVAL",
            )
        }
        | {"FRONT": "127.0.0.1", "SIP_PORT": "5160"},
    )
    assert "{{" not in text
    assert "listen=udp:127.0.0.1:5160\n" in text
    # failover needs flags=2 and the probing; in-dialog requests follow the record-route
    for needle in ('"flags", 2)', '"ds_probing_mode", 1)', "record_route();", "loose_route()"):
        assert needle in text


def test_an_unknown_placeholder_is_refused() -> None:
    with pytest.raises(StackError, match="NOPE"):
        render("listen={{NOPE}}", {})


def test_the_dispatcher_state_is_read_from_kamcmd() -> None:
    out = """{
	NRSETS: 1
	RECORDS: {
		SET: {
			ID: 1
			TARGETS: {
				DEST: {
					URI: sip:127.0.0.3:5160
					FLAGS: IP
					PRIORITY: 0
				}
				DEST: {
					URI: sip:127.0.0.2:5160
					FLAGS: AP
					PRIORITY: 0
				}
			}
		}
	}
}"""
    assert parse_destinations(out) == {"sip:127.0.0.3:5160": "IP", "sip:127.0.0.2:5160": "AP"}
    assert parse_destinations("") == {}


def test_behind_kamailio_an_agent_is_reached_through_its_registrar(tmp_path: Path) -> None:
    pw = {"agent1": "s3cret-1"}
    single = agentphones.render(["agent1"], pw)
    behind = agentphones.render(["agent1"], pw, registrar="127.0.0.1:5160")
    assert "\ncontact =" not in single  # the phone registers with this Asterisk
    assert "contact = sip:agent1@127.0.0.1:5160\n" in behind
    assert "password = s3cret-1\n" in behind  # calls from the phone are still challenged


def test_the_registrar_knows_each_agents_password_and_refuses_unsafe_ones() -> None:
    text = agents_cfg({"agent2": "b-2", "agent1": "a_1"})
    assert text.splitlines()[1:] == [
        '$sht(agents=>agent1) = "a_1";',
        '$sht(agents=>agent2) = "b-2";',
    ]
    with pytest.raises(StackError, match="agent1"):
        agents_cfg({"agent1": 'x";exit;"'})
