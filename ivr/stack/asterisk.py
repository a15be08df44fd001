"""Asterisk 22: the cached Debian sid root (or a system binary), its config, start and stop.

The root is built once with debootstrap under the cache dir and reused. The root has no DNS
at run time (empty resolv.conf, the host's /etc/hosts): with a resolver configured every call
stalls in getaddrinfo. Only while apt installs into it does it get the host's resolv.conf.
"""

from __future__ import annotations

import base64
import logging
import os
import shutil
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from string import Template

from ivr.config import Settings, project_root
from ivr.stack.proc import StackError, pid_alive, read_pid, run, terminate, wait_until

log = logging.getLogger(__name__)

_START_ATTEMPTS = 3  # an Asterisk refusing to start over a stale control socket

PACKAGES = (
    "asterisk",
    "asterisk-modules",
    "asterisk-core-sounds-en-gsm",
    "asterisk-moh-opsound-gsm",
)
READY_MARK = ".linja-root-ready"
DEBIAN_MODDIR = "/usr/lib/x86_64-linux-gnu/asterisk/modules"
# http.conf session_keep_alive: above the controller's pool keep-alive (ivr/ari/client.py).
ARI_KEEP_ALIVE_MS = 15000


@dataclass(frozen=True)
class AsteriskStatus:
    running: bool
    pid: int | None
    detail: str


def build_root(root: Path) -> None:
    """debootstrap + apt-get install Asterisk into ``root`` unless it is already there."""
    if (root / READY_MARK).is_file():
        return
    if shutil.which("debootstrap") is None:
        raise StackError("debootstrap is not installed (apt-get install debootstrap)")
    tmp = root.with_name(root.name + ".tmp")
    if not (tmp / "usr/bin/apt-get").is_file():
        if tmp.exists():
            shutil.rmtree(tmp)
        tmp.parent.mkdir(parents=True, exist_ok=True)
        log.info("building Asterisk root with debootstrap into %s (a few minutes)", tmp)
        run(["debootstrap", "--variant=minbase", "sid", str(tmp)], timeout=1800)
    shutil.copyfile("/etc/resolv.conf", tmp / "etc/resolv.conf")
    try:
        env = {"DEBIAN_FRONTEND": "noninteractive", "PATH": "/usr/sbin:/usr/bin:/sbin:/bin"}
        # The package mirror may serve a snapshot whose Release file is past Valid-Until.
        apt = [
            "chroot",
            str(tmp),
            "apt-get",
            "-o",
            "Acquire::Check-Valid-Until=false",
            "-o",
            "Acquire::Check-Date=false",
        ]
        run([*apt, "update", "-qq"], env=env, timeout=900)
        run(
            [*apt, "install", "-y", "-qq", "--no-install-recommends", *PACKAGES],
            env=env,
            timeout=1800,
        )
        run([*apt, "clean"], env=env)
    finally:
        (tmp / "etc/resolv.conf").write_text("")
    shutil.copyfile("/etc/hosts", tmp / "etc/hosts")
    (tmp / READY_MARK).write_text("ok\n")
    if root.exists():
        shutil.rmtree(root)
    tmp.rename(root)


class AsteriskServer:
    def __init__(self, settings: Settings) -> None:
        self._s = settings
        self.system = settings.asterisk_bin is not None
        self.root = settings.root
        self.prefix = settings.asterisk_prefix
        self.pidfile = settings.state_dir / "asterisk.pid"
        self.outfile = settings.state_dir / "asterisk.out"
        self._mark = 0  # where the output of the Asterisk last launched starts in outfile

    # ----- paths ------------------------------------------------------------------------------
    def host(self, inner: str) -> Path:
        """Host path of a path as Asterisk sees it."""
        return self.root / inner.lstrip("/")

    @property
    def etc(self) -> Path:
        return self.host(self.prefix + "/etc/asterisk")

    def _cmd(self, *args: str) -> list[str]:
        # An instance under a prefix names its asterisk.conf: its control socket, pid file
        # and every directory follow from there (asterisk-conf/asterisk.conf).
        conf = ["-C", f"{self.prefix}/etc/asterisk/asterisk.conf"] if self.prefix else []
        if self.system:
            assert self._s.asterisk_bin is not None
            return [str(self._s.asterisk_bin), *conf, *args]
        return ["chroot", str(self.root), "/usr/sbin/asterisk", *conf, *args]

    def asterisk_uid(self) -> int | None:
        passwd = self.host("/etc/passwd") if not self.system else Path("/etc/passwd")
        try:
            for line in passwd.read_text().splitlines():
                fields = line.split(":")
                if fields[0] == "asterisk":
                    return int(fields[2])
        except FileNotFoundError:
            return None
        return None

    # ----- setup ------------------------------------------------------------------------------
    def prepare(self, *, agent_conf: str = "") -> None:
        if self.system:
            assert self._s.asterisk_bin is not None
            if not os.access(self._s.asterisk_bin, os.X_OK):
                raise StackError(f"LINJA_ASTERISK_BIN={self._s.asterisk_bin} is not executable")
        else:
            build_root(self.root)
            # The host's name mappings, and no resolver (see module docstring). Other
            # instances in the same root may be running: replace only what differs, atomically.
            _write_if_changed(self.host("/etc/hosts"), Path("/etc/hosts").read_bytes())
            _write_if_changed(self.host("/etc/resolv.conf"), b"")
        self.render(agent_conf=agent_conf)

    def render(self, *, agent_conf: str = "") -> None:
        s = self._s
        values = {
            "PREFIX": self.prefix,
            "MODDIR": DEBIAN_MODDIR,
            "BIND": s.bind,
            "CALLERS_FROM": s.sip_callers_from,
            "SIP_PORT": str(s.sip_port),
            "RTP_START": str(s.rtp_start),
            "RTP_END": str(s.rtp_end),
            "ARI_PORT": str(s.ari_port),
            "ARI_SESSIONS": str(s.ari_sessions),
            "ARI_KEEP_ALIVE_MS": str(ARI_KEEP_ALIVE_MS),
            "MAX_CALLS": str(s.asterisk_max_calls),
            "MAX_FILES": str(s.asterisk_max_files),
            "AMI_PORT": str(s.ami_port),
            "ARI_USER": s.ari_user,
            "ARI_PASSWORD": s.require("ari_password"),
            "AMI_USER": s.ami_user,
            "AMI_PASSWORD": s.require("ami_password"),
        }
        etc = self.etc
        dist = etc.with_name("asterisk.dist")
        if etc.is_dir() and not dist.exists() and not (etc / ".linja").exists():
            etc.rename(dist)  # keep Debian's samples aside, once
        etc.mkdir(parents=True, exist_ok=True)
        (etc / ".linja").write_text("rendered by linja stack up\n")
        for template in sorted((project_root() / "asterisk-conf").glob("*.conf")):
            text = Template(template.read_text()).substitute(values)
            _write_private(etc / template.name, text)
        _write_private(etc / "pjsip_agents.conf", agent_conf)
        self.install_dialplan()
        uid = self.asterisk_uid()
        gid = uid
        for inner in (
            "/var/spool/asterisk",
            "/var/spool/asterisk/recording",
            "/var/lib/asterisk",
            "/var/log/asterisk",
            "/var/run/asterisk",
            "/var/cache/asterisk",
            "/var/lib/linja/heard",  # the dialplan writes it; the controller empties it
        ):
            path = self.host(self.prefix + inner)
            path.mkdir(parents=True, exist_ok=True)
            if uid is not None and gid is not None:
                os.chown(path, uid, gid)
        for inner in (s.sounds_inner, s.fallback_inner):
            path = self.host(inner)
            path.mkdir(parents=True, exist_ok=True)
            path.chmod(0o755)
        # Asterisk (uid asterisk) reads its config; secrets stay unreadable to others.
        if uid is not None:
            for path in etc.rglob("*"):
                os.chown(path, 0, uid)
            os.chown(etc, 0, uid)

    def install_dialplan(self, *, source: Path | None = None) -> None:
        """Copy ``source`` (default: the project's dialplan dir) ``*.conf`` into etc/linja."""
        target = self.etc / "linja"
        target.mkdir(exist_ok=True)
        src_dir = project_root() / "dialplan" if source is None else source
        wanted = {p.name: p for p in src_dir.glob("*.conf")}
        for old in target.glob("*.conf"):
            if old.name not in wanted:
                old.unlink()
        for name, src in wanted.items():
            text = src.read_text()
            if self.prefix:
                text = text.replace("/var/lib/linja/", f"{self.prefix}/var/lib/linja/")
            _write_private(target / name, text)
        uid = self.asterisk_uid()
        if uid is not None:
            os.chown(target, 0, uid)
            for path in target.iterdir():
                os.chown(path, 0, uid)

    # ----- run --------------------------------------------------------------------------------
    def status(self) -> AsteriskStatus:
        pid = read_pid(self.pidfile)
        if pid_alive(pid):
            return AsteriskStatus(
                True,
                pid,
                f"sip {self._s.bind}:{self._s.sip_port}/udp, "
                f"ari {self._s.ari_base_url}, root {self.root}{self.prefix}",
            )
        return AsteriskStatus(False, None, "stopped")

    def start(self, *, timeout: float = 60) -> None:
        if self.status().running:
            self.wait_ready(timeout=timeout)
            self.cli("core reload")  # pick up the configuration just rendered
            return
        self._s.state_dir.mkdir(parents=True, exist_ok=True)
        for attempt in range(1, _START_ATTEMPTS + 1):
            self._clear_stale_ctl()
            proc = self._launch()
            try:
                self.wait_ready(timeout=timeout, proc=proc)
                return
            except StackError:
                if proc.poll() is None:
                    raise
                if not self._said_already_running() or attempt == _START_ATTEMPTS:
                    raise StackError(
                        f"asterisk exited with {proc.returncode}; see {self.outfile}"
                    ) from None
            # Right after a crash the old control socket may still take connections for a
            # moment, and the new Asterisk then refuses to start: try again shortly.
            log.warning("asterisk found a stale control socket; starting it again")
            time.sleep(1.0)

    def _clear_stale_ctl(self) -> None:
        ctl = self.host(self.prefix + "/var/run/asterisk/asterisk.ctl")
        if ctl.exists():
            probe = run(self._cmd("-rx", "core show version"), check=False, timeout=10)
            if probe.returncode == 0 and "Asterisk" in probe.stdout:
                where = f"{self.root} (prefix {self.prefix})" if self.prefix else str(self.root)
                raise StackError(
                    f"an Asterisk not started by this checkout already runs in {where}; "
                    "stop it first"
                )
            ctl.unlink(missing_ok=True)

    def _launch(self) -> subprocess.Popen[bytes]:
        self._mark = self.outfile.stat().st_size if self.outfile.exists() else 0
        out = self.outfile.open("ab")
        proc = subprocess.Popen(
            self._cmd("-U", "asterisk", "-G", "asterisk", "-f", "-n"),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8"},
        )
        out.close()
        self.pidfile.write_text(f"{proc.pid}\n")
        log.info("asterisk starting (pid %s)", proc.pid)
        return proc

    def _said_already_running(self) -> bool:
        """Whether the Asterisk just launched refused to start because one seemed to run."""
        with self.outfile.open("rb") as fh:
            fh.seek(self._mark)
            return b"Asterisk already running" in fh.read()

    def wait_ready(self, *, timeout: float, proc: subprocess.Popen[bytes] | None = None) -> None:
        """Until Asterisk is fully booted and ARI answers; StackError at once if ``proc``
        (the Asterisk just launched) exits meanwhile."""

        def booted() -> bool:
            if proc is not None and proc.poll() is not None:
                raise StackError(f"asterisk exited with {proc.returncode}")
            res = run(self._cmd("-rx", "core waitfullybooted"), check=False, timeout=timeout)
            return res.returncode == 0 and "fully booted" in res.stdout

        wait_until("asterisk fully booted", booted, timeout=timeout, step=0.2)
        wait_until("ARI to answer", self.ari_answers, timeout=timeout, step=0.1)

    def ari_answers(self) -> bool:
        s = self._s
        token = base64.b64encode(f"{s.ari_user}:{s.require('ari_password')}".encode()).decode()
        req = urllib.request.Request(
            f"{s.ari_base_url}/asterisk/ping", headers={"Authorization": f"Basic {token}"}
        )
        try:
            with urllib.request.urlopen(req, timeout=2) as resp:
                return bool(resp.status == 200)
        except (urllib.error.URLError, OSError):
            return False

    def cli(self, command: str, *, timeout: float = 10) -> str:
        return run(self._cmd("-rx", command), timeout=timeout).stdout

    def stop(self) -> None:
        pid = read_pid(self.pidfile)
        if pid_alive(pid):
            assert pid is not None
            try:
                run(self._cmd("-rx", "core stop now"), check=False, timeout=15)
            except subprocess.TimeoutExpired:  # busy hanging up its calls: signals, then
                log.warning("asterisk (pid %s) still stopping after 15 s; terminating it", pid)
            terminate(pid, timeout=10)
            log.info("asterisk stopped (pid %s)", pid)
        self.pidfile.unlink(missing_ok=True)


def _write_private(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o640)
    with os.fdopen(fd, "w") as fh:
        fh.write(text)
    os.replace(tmp, path)


def _write_if_changed(path: Path, data: bytes) -> None:
    try:
        if path.read_bytes() == data:
            return
    except FileNotFoundError:
        pass
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    tmp.write_bytes(data)
    tmp.chmod(0o644)
    os.replace(tmp, path)
