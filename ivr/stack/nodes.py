"""The multi-node stack (issue 19): Kamailio in front of N Asterisk nodes, one Postgres.

On one machine (development, tests) node ``i`` of ``N`` is an address of its own, the i-th
of ``LINJA_NODE_ADDRESSES`` (127.0.0.2, 127.0.0.3: loopback answers the whole 127/8), with the
base stack's port numbers on it: SIP, ARI, AMI and its controller's HTTP, as if each node were
a machine. Kamailio takes the service address (``LINJA_FRONT_ADDRESS``, default the bind
address, at the SIP port). Per node, derived from the base settings:

- its state dir ``<state_dir>/nodes/n<i>`` (pid files, flows snapshot, spools), holding a
  copy of the base stack's secrets (one database, one ARI/AMI password for every node);
- its Asterisk instance in the same root under ``/srv/linja/<tag>-n<i>`` and the i-th slice
  of the base RTP range;
- Postgres stays the base stack's (``LINJA_PG_HOST`` = the base bind address), and so does
  the audio store (``LINJA_AUDIO_DIR``): recordings land in one directory every node reaches.

Kamailio is also the agent phones' registrar: each node's agent endpoints have it as their
fixed contact (ivr/stack/agentphones.py), and it knows the agents' SIP passwords (the base
stack's, ``agent-sip.json``).

`nodes.json` in the base state dir records how many nodes `up` started, for `down`/`status`.
"""

from __future__ import annotations

import json
import logging
import shutil
import time
from concurrent.futures import ThreadPoolExecutor

from ivr.config import Settings, write_secrets
from ivr.stack import control, secrets, workers
from ivr.stack.asterisk import AsteriskServer
from ivr.stack.kamailio import KamailioServer, Node
from ivr.stack.postgres import PgCluster
from ivr.stack.proc import StackError, pid_alive, read_pid

log = logging.getLogger(__name__)

NODES_FILE = "nodes.json"
AGENT_PASSWORDS = "agent-sip.json"  # ivr/stack/agentphones.py
_PORTS = ("sip_port", "ari_port", "ami_port", "pg_port", "http_port")


def addresses(base: Settings) -> list[str]:
    return [a.strip() for a in base.node_addresses.split(",") if a.strip()]


def node_settings(base: Settings, index: int, count: int) -> Settings:
    """The settings node ``index`` of ``count`` (its Asterisk and its controller) runs with."""
    addrs = addresses(base)
    if not 0 <= index < count <= len(addrs):
        raise StackError(f"node {index} of {count}: LINJA_NODE_ADDRESSES names {len(addrs)}")
    state = base.state_dir / "nodes" / f"n{index}"
    rtp_start, rtp_end = workers.rtp_slice(base, index, count)
    if base.asterisk_bin is not None:
        prefix = str(state / "asterisk")
    else:
        prefix = f"{base.asterisk_prefix}{workers.INSTANCES_DIR}/{workers.tag(base)}-n{index}"
    return base.model_copy(
        update={
            "bind": addrs[index],
            "pg_host": base.db_host,
            "sip_callers_from": base.sip_front,
            "state_dir": state,
            "rtp_start": rtp_start,
            "rtp_end": rtp_end,
            "pg_dir": base.pg_home,
            "audio_dir": base.audio_store_dir,
            "asterisk_prefix": prefix,
        }
    )


def node_env(base: Settings, index: int, count: int) -> dict[str, str]:
    """``LINJA_*`` variables that make ``Settings()`` (of `linja serve`) node ``index``'s."""
    mine = node_settings(base, index, count)
    env = {f"LINJA_{name.upper()}": str(getattr(mine, name)) for name in _PORTS}
    assert mine.pg_dir is not None and mine.audio_dir is not None
    env.update(
        LINJA_BIND=mine.bind,
        LINJA_PG_HOST=mine.pg_host,
        LINJA_SIP_CALLERS_FROM=mine.sip_callers_from,
        LINJA_STATE_DIR=str(mine.state_dir),
        LINJA_RTP_START=str(mine.rtp_start),
        LINJA_RTP_END=str(mine.rtp_end),
        LINJA_PG_DIR=str(mine.pg_dir),
        LINJA_AUDIO_DIR=str(mine.audio_dir),
        LINJA_ASTERISK_PREFIX=mine.asterisk_prefix,
        LINJA_SHARED_QUEUES="1",  # one queue order across the nodes' controllers
    )
    return env


def kamailio(base: Settings, count: int) -> KamailioServer:
    """The front end of ``count`` nodes, its registrar knowing the agents' SIP passwords."""
    nodes = [node_settings(base, i, count) for i in range(count)]
    try:
        agents = json.loads((base.state_dir / AGENT_PASSWORDS).read_text())
    except FileNotFoundError:
        agents = {}
    return KamailioServer(base, [Node(n.bind, n.sip_port) for n in nodes], agents)


def beside(stack: Settings, name: str, sip_shift: int) -> Settings:
    """Base settings of a multi-node stack run beside ``stack`` (a single stack that keeps
    running): a state dir ``<stack state dir>/<name>`` holding a copy of its secrets, its
    Postgres and audio store, and the front end ``sip_shift`` above its SIP port (the node
    tests and `make bench-nodes`)."""
    state = stack.state_dir / name
    state.mkdir(parents=True, exist_ok=True)
    state.chmod(0o700)
    shutil.copyfile(stack.state_dir / "secrets.json", state / "secrets.json")
    return stack.model_copy(
        update={
            "state_dir": state,
            "sip_port": stack.sip_port + sip_shift,
            "pg_dir": stack.pg_home,
            "audio_dir": stack.audio_store_dir,
        }
    )


def recorded_count(base: Settings) -> int:
    """How many nodes the last `up` of this state dir started (0: none)."""
    try:
        return int(json.loads((base.state_dir / NODES_FILE).read_text())["count"])
    except (FileNotFoundError, ValueError, KeyError, TypeError):
        return 0


def up(base: Settings, count: int) -> list[Settings]:
    """Kamailio, ``count`` Asterisk nodes and the one Postgres, started and migrated;
    returns the nodes' settings. Idempotent like `control.up`."""
    started = time.monotonic()
    if count < 2:
        raise StackError("a multi-node stack has at least 2 nodes (one node: `linja stack up`)")
    base = control.prepare_shared(base)
    single = AsteriskServer(base).status()
    if single.running and base.sip_front == base.bind:
        raise StackError(
            f"the single-node Asterisk of {base.state_dir} holds {base.bind}:{base.sip_port}, "
            "the front end's address: `linja stack down` first"
        )
    down_count = recorded_count(base)
    if down_count > count:
        _stop_nodes(base, range(count, down_count))
    nodes = [node_settings(base, i, count) for i in range(count)]
    for node in nodes:
        _share_files(base, node)
        control.prepare_asterisk(
            node, agents_dir=base.state_dir, registrar=f"{base.sip_front}:{base.sip_port}"
        )
    control.database_up(base)
    with ThreadPoolExecutor(max_workers=count) as pool:
        for done in [pool.submit(AsteriskServer(n).start) for n in nodes]:
            done.result()
    front = kamailio(base, count)
    front.prepare()
    front.start()
    (base.state_dir / NODES_FILE).write_text(json.dumps({"count": count}) + "\n")
    front.wait_nodes_active()
    log.info("stack of %d nodes up in %.1fs", count, time.monotonic() - started)
    return nodes


def refuse_single(base: Settings) -> None:
    """StackError when this state dir's multi-node stack runs: its Kamailio holds the
    address a single-node Asterisk would bind (`linja stack down` first)."""
    count = recorded_count(base)
    if count and kamailio(base, count).running() is not None:
        raise StackError(
            f"the {count}-node stack of {base.state_dir} runs (Kamailio on "
            f"{base.sip_front}:{base.sip_port}): `linja stack down` first"
        )


def _share_files(base: Settings, node: Settings) -> None:
    """The base stack's secrets (the values in use) and agent passwords, in the node's state
    dir: its `linja serve` reads them from there."""
    node.state_dir.mkdir(parents=True, exist_ok=True)
    node.state_dir.chmod(0o700)
    write_secrets(node.state_dir, {name: base.require(name) for name in secrets.NAMES})
    src = base.state_dir / AGENT_PASSWORDS
    if src.is_file():
        tmp = node.state_dir / f"{AGENT_PASSWORDS}.tmp"
        shutil.copyfile(src, tmp)
        tmp.chmod(0o600)
        tmp.replace(node.state_dir / AGENT_PASSWORDS)


def down(base: Settings) -> None:
    """Stop Kamailio and the nodes `up` started (by pid file). Postgres is the base stack's:
    `control.down` stops it."""
    count = recorded_count(base)
    if count:
        kamailio(base, count).stop()
        _stop_nodes(base, range(count))
        (base.state_dir / NODES_FILE).unlink(missing_ok=True)


def _stop_nodes(base: Settings, indexes: range) -> None:
    total = max(indexes.stop, 2)
    for i in indexes:
        AsteriskServer(node_settings(base, i, total)).stop()


def status(base: Settings) -> dict[str, str]:
    """What runs where, one line per piece (empty when no multi-node stack was started)."""
    count = recorded_count(base)
    if not count:
        return {}
    front = kamailio(base, count)
    pid = front.running()
    dests = front.destinations() if pid is not None else {}
    out = {
        "kamailio": (
            f"running pid {pid}, sip {front.address}/udp, "
            + ", ".join(f"{uri} {_state(flags)}" for uri, flags in sorted(dests.items()))
            if pid is not None
            else "stopped"
        )
    }
    for i in range(count):
        node = node_settings(base, i, count)
        ast = AsteriskServer(node).status()
        ctl = read_pid(node.state_dir / "controller.pid")
        out[f"node n{i}"] = (
            (f"asterisk running pid {ast.pid}, {ast.detail}" if ast.running else "asterisk stopped")
            + "; controller "
            + (
                f"running pid {ctl}, console http://{node.bind}:{node.http_port}/"
                if pid_alive(ctl)
                else "stopped"
            )
        )
    pg = PgCluster(base).status()
    out["postgres"] = f"running pid {pg.pid}, {pg.detail}" if pg.running else pg.detail
    return out


def _state(flags: str) -> str:
    return {"A": "up", "I": "down", "T": "trying", "D": "disabled"}.get(flags[:1], flags)
