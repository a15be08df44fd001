"""One stack per parallel test worker, derived from the base settings.

Worker ``n`` (0-based) of ``count`` gets, next to the base stack:

- its own state dir ``<state_dir>/workers/w<n>``, hence its own secrets, pid files, audio
  store and Postgres cluster (``/var/lib/linja/pg-<hash of that state dir>``);
- its own Asterisk instance in the same root, under the prefix ``/srv/linja/<tag>-w<n>``
  (its own etc, spool, run and log directories; see asterisk-conf/asterisk.conf);
- every TCP/UDP port at the base port plus ``PORT_STEP * (n + 1)``, and the n-th slice of
  the base RTP range.

Why a step of 3: the port sets in use place the callback trunk 10 above SIP, ARI 8 above
HTTP and AMI 22 below SIP, none a multiple of 3, so a worker's port of one kind never lands
on a port of another kind of the base stack or of another worker. :func:`worker_env` checks
that anyway and refuses a layout where two ports meet.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from ivr.config import Settings
from ivr.stack.proc import StackError

PORT_STEP = 3
MAX_OFFSET = 40  # a developer's port block is this wide above each base port
MIN_RTP_PORTS = 20
INSTANCES_DIR = "/srv/linja"

_PORTS = ("sip_port", "ari_port", "ami_port", "pg_port", "http_port")


def max_workers() -> int:
    return MAX_OFFSET // PORT_STEP


def worker_settings(base: Settings, index: int, count: int) -> Settings:
    """The settings worker ``index`` of ``count`` runs its stack with."""
    if not 0 <= index < count <= max_workers():
        raise StackError(f"worker {index} of {count}: at most {max_workers()} workers")
    offset = PORT_STEP * (index + 1)
    state = base.state_dir / "workers" / f"w{index}"
    host, trunk_port = base.callback_trunk.rsplit(":", 1)
    update: dict[str, object] = {name: getattr(base, name) + offset for name in _PORTS}
    rtp_start, rtp_end = rtp_slice(base, index, count)
    update.update(
        state_dir=state,
        rtp_start=rtp_start,
        rtp_end=rtp_end,
        callback_trunk=f"{host}:{int(trunk_port) + offset}",
        pg_dir=_pg_dir(base, state, index),
        audio_dir=(base.audio_dir / f"w{index}") if base.audio_dir else state / "audio",
        asterisk_prefix=_prefix(base, state, index),
    )
    return base.model_copy(update=update)


def worker_env(base: Settings, index: int, count: int) -> dict[str, str]:
    """``LINJA_*`` variables that make ``Settings()`` (and the controllers the tests start,
    which inherit the environment) those of worker ``index``."""
    mine = worker_settings(base, index, count)
    check_disjoint([base, *(worker_settings(base, i, count) for i in range(count))])
    env = {f"LINJA_{name.upper()}": str(getattr(mine, name)) for name in _PORTS}
    assert mine.pg_dir is not None and mine.audio_dir is not None
    env.update(
        LINJA_STATE_DIR=str(mine.state_dir),
        LINJA_RTP_START=str(mine.rtp_start),
        LINJA_RTP_END=str(mine.rtp_end),
        LINJA_CALLBACK_TRUNK=mine.callback_trunk,
        LINJA_PG_DIR=str(mine.pg_dir),
        LINJA_AUDIO_DIR=str(mine.audio_dir),
        LINJA_ASTERISK_PREFIX=mine.asterisk_prefix,
    )
    return env


def check_disjoint(stacks: list[Settings]) -> None:
    """StackError when two of ``stacks`` (or two servers of one) would use the same port, a
    port lies in an RTP range, or two workers' RTP ranges overlap. The base stack (the first)
    keeps its whole RTP range: it carries no calls while the workers run."""
    owners: dict[int, str] = {}
    for n, s in enumerate(stacks):
        ports = {name: getattr(s, name) for name in _PORTS}
        ports["callback trunk"] = int(s.callback_trunk.rsplit(":", 1)[1])
        for name, port in ports.items():
            if port in owners:
                raise StackError(f"port {port}: {owners[port]} and stack {n} {name}")
            owners[port] = f"stack {n} {name}"
    for n, s in enumerate(stacks):
        for port, owner in owners.items():
            if s.rtp_start <= port <= s.rtp_end:
                raise StackError(f"port {port} of {owner} is in the RTP range of stack {n}")
        for m in range(max(n + 1, 2), len(stacks)) if n > 0 else ():
            other = stacks[m]
            if s.rtp_start <= other.rtp_end and other.rtp_start <= s.rtp_end:
                raise StackError(f"the RTP ranges of stacks {n} and {m} overlap")


def rtp_slice(base: Settings, index: int, count: int) -> tuple[int, int]:
    """The index-th of ``count`` equal slices of the base RTP range, starting on even ports
    (RTP takes the even port, RTCP the odd one above). Also the nodes' (ivr/stack/nodes.py)."""
    width = (base.rtp_end - base.rtp_start + 1) // count & ~1
    if width < MIN_RTP_PORTS:
        raise StackError(
            f"RTP range {base.rtp_start}-{base.rtp_end} is too small for {count} workers"
        )
    start = (base.rtp_start + 1 & ~1) + index * width
    return start, start + width - 1


def tag(base: Settings) -> str:
    """A short name of the checkout's state dir: instances of several checkouts in one root."""
    return hashlib.sha256(str(base.state_dir.resolve()).encode()).hexdigest()[:10]


def _pg_dir(base: Settings, state: Path, index: int) -> Path:
    if base.pg_dir is not None:
        return base.pg_dir.with_name(f"{base.pg_dir.name}-w{index}")
    return base.model_copy(update={"state_dir": state, "pg_dir": None}).pg_home


def _prefix(base: Settings, state: Path, index: int) -> str:
    if base.asterisk_bin is not None:
        return str(state / "asterisk")  # a system Asterisk: under the worker's state dir
    # Several checkouts may share one root: the tag keeps their instances apart.
    return f"{base.asterisk_prefix}{INSTANCES_DIR}/{tag(base)}-w{index}"
