"""Kamailio (Debian `kamailio`), the SIP front end of a multi-node stack: render, start, stop.

The configuration is ``kamailio-conf/kamailio.cfg`` with ``{{NAME}}`` placeholders, rendered
with the dispatcher list of the nodes into a run directory under /var/lib/linja (Kamailio
runs as the Debian package's ``kamailio`` user, who may not traverse a checkout's state dir).
The configuration holds no secrets (it is what an operator deploys, with real addresses);
the registrar's agent passwords are in ``agents.cfg`` beside it (0640, user kamailio).
"""

from __future__ import annotations

import hashlib
import logging
import os
import pwd
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from ivr.config import Settings, project_root
from ivr.stack.proc import StackError, pid_alive, read_pid, run, terminate, wait_until

log = logging.getLogger(__name__)

MODDIR = "/usr/lib/x86_64-linux-gnu/kamailio/modules"
USER = "kamailio"
INVITE_TIMEOUT_MS = 1500  # no 100 Trying from a node within this: the next node
PING_INTERVAL = 1  # seconds between OPTIONS probes of each node
CHILDREN = 4  # UDP worker processes
_PLACEHOLDER = re.compile(r"\{\{([A-Z_]+)\}\}")
_SAFE = re.compile(r"[A-Za-z0-9_.\-]+")
# A destination line of `kamcmd dispatcher.list`: URI first, FLAGS a few lines below.
_DEST = re.compile(r"URI:\s*(\S+)\s+FLAGS:\s*(\S+)", re.S)


@dataclass(frozen=True)
class Node:
    """One dispatcher destination: a node's SIP address."""

    address: str
    port: int

    @property
    def uri(self) -> str:
        return f"sip:{self.address}:{self.port}"


def render(template: str, values: dict[str, str]) -> str:
    """``{{NAME}}`` replaced by ``values[NAME]``; StackError naming an unknown placeholder."""

    def sub(match: re.Match[str]) -> str:
        try:
            return values[match.group(1)]
        except KeyError:
            raise StackError(f"kamailio.cfg: unknown placeholder {match.group(0)}") from None

    return _PLACEHOLDER.sub(sub, template)


def dispatcher_list(nodes: list[Node]) -> str:
    lines = ["# set destination flags priority attributes (rendered by linja stack up)"]
    lines += [f"1 {n.uri} 0 0 name=n{i}" for i, n in enumerate(nodes)]
    return "\n".join(lines) + "\n"


def agents_cfg(agents: dict[str, str]) -> str:
    """The registrar's passwords, set in the `agents` htable when Kamailio starts."""
    lines = ["# agent login -> SIP password (rendered by linja stack up; 0640)"]
    for login, password in sorted(agents.items()):
        if not _SAFE.fullmatch(login) or not _SAFE.fullmatch(password):
            raise StackError(f"agent {login!r}: login or password not safe in kamailio.cfg")
        lines.append(f'$sht(agents=>{login}) = "{password}";')
    return "\n".join(lines) + "\n"


def parse_destinations(text: str) -> dict[str, str]:
    """``{uri: flags}`` from `kamcmd dispatcher.list` (flags ``AP`` active and probed, ``IP``
    inactive and probed, ``TP`` trying)."""
    return {uri: flags for uri, flags in _DEST.findall(text)}


class KamailioServer:
    def __init__(
        self, settings: Settings, nodes: list[Node], agents: dict[str, str] | None = None
    ) -> None:
        self._s = settings
        self.nodes = nodes
        self.agents = dict(agents or {})  # agent login -> SIP password (the registrar's)
        tag = hashlib.sha256(str(settings.state_dir.resolve()).encode()).hexdigest()[:10]
        self.run_dir = Path("/var/lib/linja") / f"kamailio-{tag}"
        self.pidfile = settings.state_dir / "kamailio.pid"
        self.outfile = settings.state_dir / "kamailio.out"
        self._cfg_changed = True  # until prepare() has compared it with the one in place

    @property
    def cfg(self) -> Path:
        return self.run_dir / "kamailio.cfg"

    @property
    def ctl(self) -> str:
        return f"unix:{self.run_dir}/kamailio.ctl"

    @property
    def address(self) -> str:
        return f"{self._s.sip_front}:{self._s.sip_port}"

    def prepare(self) -> None:
        if not os.access(self._s.kamailio_bin, os.X_OK):
            raise StackError(f"{self._s.kamailio_bin} missing (Debian package kamailio)")
        values = {
            "FRONT": self._s.sip_front,
            "SIP_PORT": str(self._s.sip_port),
            "RUN_DIR": str(self.run_dir),
            "MODDIR": MODDIR,
            "CHILDREN": str(CHILDREN),
            "INVITE_TIMEOUT_MS": str(INVITE_TIMEOUT_MS),
            "PING_INTERVAL": str(PING_INTERVAL),
        }
        text = render((project_root() / "kamailio-conf" / "kamailio.cfg").read_text(), values)
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.run_dir.chmod(0o750)
        changed = _write_if_changed(self.run_dir / "agents.cfg", agents_cfg(self.agents), 0o640)
        self._cfg_changed = _write_if_changed(self.cfg, text) or changed
        _write_if_changed(self.run_dir / "dispatcher.list", dispatcher_list(self.nodes))
        user = _user()
        if user is not None:
            for path in (self.run_dir, *self.run_dir.iterdir()):
                os.chown(path, user.pw_uid, user.pw_gid)
        check = run([self._s.kamailio_bin, "-c", "-f", self.cfg], check=False, timeout=30)
        if check.returncode != 0:
            tail = " | ".join((check.stderr or check.stdout).strip().splitlines()[-5:])
            raise StackError(f"kamailio refuses {self.cfg}: {tail}")

    def running(self) -> int | None:
        pid = read_pid(self.pidfile)
        return pid if pid_alive(pid) else None

    def start(self, *, timeout: float = 20) -> None:
        """Start Kamailio; one that runs already re-reads its node list, or is restarted
        when its configuration changed (calls in progress keep their dialogs either way:
        Kamailio keeps no dialog state, the record-route is in the calls' own headers)."""
        if self.running() is not None:
            if not self._cfg_changed and self._reload_nodes():
                log.info("kamailio on %s re-read its node list", self.address)
                return
            self.stop()
        self._s.state_dir.mkdir(parents=True, exist_ok=True)
        drop = ["-u", USER, "-g", USER] if _user() is not None else []
        with self.outfile.open("ab") as out:
            proc = subprocess.Popen(
                [str(self._s.kamailio_bin), "-f", str(self.cfg), "-DD", "-E", *drop],
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8"},
            )
        self.pidfile.write_text(f"{proc.pid}\n")
        log.info("kamailio starting on %s (pid %s)", self.address, proc.pid)

        def answers() -> bool:
            if proc.poll() is not None:
                raise StackError(f"kamailio exited with {proc.returncode}; see {self.outfile}")
            return bool(self.destinations())

        wait_until("kamailio to answer", answers, timeout=timeout, step=0.1)

    def _reload_nodes(self) -> bool:
        kamcmd = shutil.which("kamcmd")
        if kamcmd is None:
            return False
        res = run([kamcmd, "-s", self.ctl, "dispatcher.reload"], check=False, timeout=5)
        return res.returncode == 0

    def destinations(self) -> dict[str, str]:
        """The dispatcher's view of the nodes (``{}`` when Kamailio does not answer)."""
        kamcmd = shutil.which("kamcmd")
        if kamcmd is None or not (self.run_dir / "kamailio.ctl").exists():
            return {}
        res = run([kamcmd, "-s", self.ctl, "dispatcher.list"], check=False, timeout=5)
        return parse_destinations(res.stdout) if res.returncode == 0 else {}

    def wait_nodes_active(self, *, timeout: float = 10) -> None:
        want = {n.uri for n in self.nodes}

        def active() -> bool:
            dests = self.destinations()
            return all(dests.get(uri, "").startswith("A") for uri in want)

        wait_until("the dispatcher to see every node up", active, timeout=timeout, step=0.2)

    def stop(self) -> None:
        pid = read_pid(self.pidfile)
        if pid_alive(pid):
            assert pid is not None
            terminate(pid, timeout=10)
            log.info("kamailio stopped (pid %s)", pid)
        self.pidfile.unlink(missing_ok=True)


def _write_if_changed(path: Path, text: str, mode: int = 0o644) -> bool:
    try:
        if path.read_text() == text:
            return False
    except FileNotFoundError:
        pass
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "w") as fh:
        fh.write(text)
    os.replace(tmp, path)
    return True


def _user() -> pwd.struct_passwd | None:
    try:
        return pwd.getpwnam(USER)
    except KeyError:
        return None
