"""Install the Debian packages the stack needs, only when something is missing."""

from __future__ import annotations

import logging
import shutil

from ivr.stack.proc import StackError, run

log = logging.getLogger(__name__)

# binary on PATH -> Debian package that provides it
REQUIRED: dict[str, str] = {
    "debootstrap": "debootstrap",
    "sipp": "sip-tester",
    "espeak-ng": "espeak-ng",
    "sox": "sox",
    "ffmpeg": "ffmpeg",
    "runuser": "util-linux",
    "kamailio": "kamailio",  # the SIP front end of a multi-node stack (ivr/stack/kamailio.py)
    "chromium": "chromium",  # the console's browser tests (Playwright drives /usr/bin/chromium)
}
POSTGRES_PACKAGE = "postgresql-15"


def missing(pg_initdb: str) -> list[str]:
    pkgs = sorted({pkg for binary, pkg in REQUIRED.items() if shutil.which(binary) is None})
    if shutil.which(pg_initdb) is None:
        pkgs.append(POSTGRES_PACKAGE)
    return pkgs


def ensure(pg_initdb: str) -> list[str]:
    """apt-get install whatever is missing; returns what was installed."""
    pkgs = missing(pg_initdb)
    if not pkgs:
        return []
    if shutil.which("apt-get") is None:
        raise StackError(f"missing packages {pkgs} and no apt-get to install them")
    log.info("installing Debian packages: %s", " ".join(pkgs))
    env = {"DEBIAN_FRONTEND": "noninteractive", "PATH": "/usr/sbin:/usr/bin:/sbin:/bin"}
    run(["apt-get", "update", "-qq"], env=env)
    run(["apt-get", "install", "-y", "-qq", "--no-install-recommends", *pkgs], env=env)
    still = missing(pg_initdb)
    if still:
        raise StackError(f"packages still missing after install: {still}")
    if "kamailio" in pkgs:
        _disable_service("kamailio")
    return pkgs


def _disable_service(name: str) -> None:
    """Debian starts a package's own service (Kamailio's: its sample config on every address
    at 5060, Linja's default SIP port); the stack runs its own instance instead. Only a
    service this setup has just installed is touched."""
    if shutil.which("systemctl") is None:
        return
    res = run(["systemctl", "disable", "--now", f"{name}.service"], check=False, timeout=60)
    log.info("%s.service disabled (systemctl exited %s)", name, res.returncode)
