"""The private Postgres cluster: created with initdb, run as an unprivileged user, 127.0.0.1."""

from __future__ import annotations

import asyncio
import logging
import os
import pwd
import shutil
from dataclasses import dataclass

import asyncpg

from ivr.config import Settings
from ivr.stack import scram
from ivr.stack.proc import StackError, run
from storage.db import connect

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PgStatus:
    running: bool
    pid: int | None
    detail: str


class PgCluster:
    def __init__(self, settings: Settings) -> None:
        self._s = settings
        self.home = settings.pg_home
        self.data = self.home / "data"
        self.sock = self.home / "sock"
        self.logfile = self.home / "postgres.log"

    def _bin(self, name: str) -> str:
        return str(self._s.pg_bin_dir / name)

    def _as_user(self, *cmd: str) -> list[str]:
        return ["runuser", "-u", self._s.pg_user, "--", *cmd]

    # ----- OS user --------------------------------------------------------------------------
    def ensure_user(self, forbidden_uids: set[int]) -> int:
        try:
            entry = pwd.getpwnam(self._s.pg_user)
        except KeyError:
            run(
                [
                    "useradd",
                    "--system",
                    "--no-create-home",
                    "--home-dir",
                    "/nonexistent",
                    "--shell",
                    "/usr/sbin/nologin",
                    self._s.pg_user,
                ]
            )
            entry = pwd.getpwnam(self._s.pg_user)
        if entry.pw_uid in forbidden_uids:
            raise StackError(
                f"user {self._s.pg_user} has uid {entry.pw_uid}, which Asterisk also uses; "
                "set LINJA_PG_USER to another user"
            )
        return entry.pw_uid

    # ----- cluster ----------------------------------------------------------------------------
    def initialised(self) -> bool:
        return (self.data / "PG_VERSION").is_file()

    def init(self, superuser: str, password: str) -> None:
        entry = pwd.getpwnam(self._s.pg_user)
        self.home.mkdir(parents=True, exist_ok=True)
        self.sock.mkdir(exist_ok=True)
        for path in (self.home.parent, self.home, self.sock):
            if path == self.home.parent:
                path.chmod(0o755)
                continue
            os.chown(path, entry.pw_uid, entry.pw_gid)
            path.chmod(0o700)
        if self.initialised():
            return
        if self.data.exists():
            shutil.rmtree(self.data)
        pwfile = self.home / ".pwfile"
        fd = os.open(pwfile, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(password + "\n")
        os.chown(pwfile, entry.pw_uid, entry.pw_gid)
        try:
            run(
                self._as_user(
                    self._bin("initdb"),
                    "-D",
                    str(self.data),
                    "-U",
                    superuser,
                    "--auth=scram-sha-256",
                    f"--pwfile={pwfile}",
                    "-E",
                    "UTF8",
                    "--no-locale",
                )
            )
        finally:
            pwfile.unlink(missing_ok=True)
        with (self.data / "postgresql.conf").open("a") as fh:
            fh.write("\ninclude_if_exists = 'linja.conf'\n")

    def _write_conf(self) -> None:
        entry = pwd.getpwnam(self._s.pg_user)
        conf = self.data / "linja.conf"
        conf.write_text(
            "# written by `linja stack up`; edits are overwritten\n"
            f"listen_addresses = '{self._s.db_host}'\n"
            f"port = {self._s.pg_port}\n"
            f"unix_socket_directories = '{self.sock}'\n"
            "max_connections = 200\n"
            "fsync = on\n"
            "log_min_messages = warning\n"
        )
        os.chown(conf, entry.pw_uid, entry.pw_gid)

    def status(self) -> PgStatus:
        if not self.initialised():
            return PgStatus(False, None, "no cluster")
        proc = run(self._as_user(self._bin("pg_ctl"), "-D", str(self.data), "status"), check=False)
        pid = None
        pidfile = self.data / "postmaster.pid"
        if proc.returncode == 0 and pidfile.is_file():
            pid = int(pidfile.read_text().split()[0])
        running = proc.returncode == 0
        where = f"{self._s.db_host}:{self._s.pg_port}" if running else "stopped"
        return PgStatus(running, pid, f"{where} data={self.data}")

    def start(self) -> None:
        if self.status().running:
            return
        self._write_conf()
        self.sock.mkdir(exist_ok=True)
        entry = pwd.getpwnam(self._s.pg_user)
        self.logfile.touch()
        os.chown(self.logfile, entry.pw_uid, entry.pw_gid)
        run(
            self._as_user(
                self._bin("pg_ctl"),
                "-D",
                str(self.data),
                "-l",
                str(self.logfile),
                "-w",
                "-t",
                "60",
                "start",
            )
        )
        log.info("postgres started on %s:%s", self._s.db_host, self._s.pg_port)

    def stop(self, mode: str = "fast") -> None:
        if not self.initialised() or not self.status().running:
            return
        run(self._as_user(self._bin("pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "stop"))
        log.info("postgres stopped")

    def bootstrap(self) -> None:
        """Create (or re-password) the owner and application roles and the database.

        The cluster lives outside the state dir, so it can outlive the secrets it was made
        with (a checkout or CI clone made anew at the same path). The secrets in the state dir
        are what counts: the superuser is re-passworded offline and the data kept."""
        try:
            asyncio.run(self._bootstrap())
        except asyncpg.InvalidPasswordError:
            log.warning(
                "the Postgres cluster in %s was set up with other secrets than those in %s "
                "(was the state dir made anew?); setting its superuser password from them, "
                "its data is kept",
                self.data,
                self._s.state_dir,
            )
            self.reset_superuser_password()
            asyncio.run(self._bootstrap())

    def reset_superuser_password(self) -> None:
        """Set the superuser's password in single-user mode (the server is stopped for it and
        started again). Only a SCRAM verifier goes to Postgres, never the password."""
        s = self._s
        sql = (
            f'ALTER ROLE "{_ident(s.db_superuser)}" '
            f"PASSWORD '{scram.verifier(s.require('db_superuser_password'))}';\n"
        )
        self.stop()
        run(
            self._as_user(self._bin("postgres"), "--single", "-D", str(self.data), "postgres"),
            input_text=sql,
        )
        self.start()

    async def _bootstrap(self) -> None:
        s = self._s
        conn = await connect(s, "super", database="postgres")
        try:
            for role, secret in (
                (s.db_owner, "db_owner_password"),
                (s.db_app_user, "db_app_password"),
            ):
                exists = await conn.fetchval("SELECT 1 FROM pg_roles WHERE rolname = $1", role)
                verb = "ALTER" if exists else "CREATE"
                # Role names are settings validated as identifiers below; passwords are quoted
                # literals built by Postgres itself, never logged.
                literal = await conn.fetchval("SELECT quote_literal($1)", s.require(secret))
                await conn.execute(f'{verb} ROLE "{_ident(role)}" LOGIN PASSWORD {literal}')
            has_db = await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", s.db_name)
            if not has_db:
                await conn.execute(
                    f'CREATE DATABASE "{_ident(s.db_name)}" OWNER "{_ident(s.db_owner)}"'
                )
            await conn.execute(
                f'GRANT CONNECT ON DATABASE "{_ident(s.db_name)}" TO "{_ident(s.db_app_user)}"'
            )
        finally:
            await conn.close()
        conn = await connect(s, "super")
        try:
            await conn.execute(
                f'ALTER SCHEMA public OWNER TO "{_ident(s.db_owner)}";'
                f'GRANT USAGE ON SCHEMA public TO "{_ident(s.db_app_user)}"'
            )
        finally:
            await conn.close()


def _ident(name: str) -> str:
    if not name.replace("_", "").isalnum():
        raise StackError(f"invalid database identifier {name!r}")
    return name
