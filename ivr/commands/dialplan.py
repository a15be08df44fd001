"""`linja dialplan check | reload`: validate the routing dialplan and the flow definitions,
and make them live.

``check`` prints every finding as ``file:line: message`` (file relative to the dialplan
directory) and exits 1 when there is any. ``reload`` checks first; on any finding it exits 1
and changes nothing: no file is copied, Asterisk keeps its running dialplan and the flow
snapshot stays. When clean it copies the ``*.conf`` files into Asterisk's etc, has Asterisk
reload its dialplan through AMI, and writes the validated definitions to
``<state_dir>/flows.json`` for the controller. On a multi-node stack (`linja stack up
--nodes N`) it does so on every node: each node's Asterisk, and each node controller's
state dir; a node that is not running gets the files and starts with them.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Callable, Sequence
from contextlib import AsyncExitStack
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Protocol

from panoramisk import Manager

from ivr.commands import UsageError
from ivr.config import MissingSecret, Settings, project_root
from ivr.flowdefs.errors import DefinitionError, DefinitionErrors
from ivr.flowdefs.loader import check_definitions, load_definitions
from ivr.flowdefs.model import TenantFlows
from ivr.flowdefs.snapshot import write_snapshot
from ivr.stack import nodes
from ivr.stack.asterisk import AsteriskServer

log = logging.getLogger(__name__)

SNAPSHOT_NAME = "flows.json"
AMI_TIMEOUT = 10.0


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser("dialplan", help="check and reload the dialplan and flow definitions")
    actions = parser.add_subparsers(dest="action", required=True)
    for name, func, text in (
        ("check", _check, "validate dialplan/*.conf and dialplan/flows/*.toml"),
        ("reload", _reload, "check, then make the dialplan and flow definitions live"),
    ):
        cmd = actions.add_parser(name, help=text)
        cmd.add_argument(
            "--dir", type=Path, help="dialplan directory (default: the project's dialplan/)"
        )
        cmd.set_defaults(func=func)


class AmiError(Exception):
    """AMI unreachable, login refused, or an action answered with an error."""


class Ami:
    """One short AMI session (panoramisk, async only): ``async with Ami(...) as ami``."""

    def __init__(
        self, host: str, port: int, user: str, secret: str, *, timeout: float = AMI_TIMEOUT
    ) -> None:
        self._config = {"host": host, "port": port, "username": user, "secret": secret}
        self._where = f"AMI {host}:{port}"
        self._user = user
        self._timeout = timeout
        self._manager: Any = None

    async def __aenter__(self) -> Ami:
        self._manager = Manager(
            loop=asyncio.get_running_loop(), events="off", ping_delay=60, **self._config
        )
        try:
            async with asyncio.timeout(self._timeout):
                await self._manager.connect()
                login = self._manager.authenticated_future
                if login is not None:
                    await login
        except (OSError, TimeoutError) as exc:
            self._manager.close()
            raise AmiError(f"cannot reach {self._where}: {exc or 'timed out'}") from None
        if not self._manager.authenticated:
            self._manager.close()
            raise AmiError(f"{self._where}: login as {self._user!r} refused")
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._manager.close()

    async def command(self, command: str) -> str:
        """Run an Asterisk CLI command; its output."""
        action = {"Action": "Command", "Command": command}
        try:
            async with asyncio.timeout(self._timeout):
                resp = await self._manager.send_action(action)
        except TimeoutError:
            raise AmiError(f"{self._where}: no answer to {command!r}") from None
        if resp.get("Response") != "Success":
            raise AmiError(f"{self._where}: {command!r} failed: {resp.get('Message')}")
        output = resp.get("Output", "")
        return "\n".join(output) if isinstance(output, list) else str(output)


class AmiSession(Protocol):
    async def __aenter__(self) -> AmiSession: ...

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...

    async def command(self, command: str) -> str: ...


@dataclass(frozen=True)
class ReloadTarget:
    """One Asterisk a reload reaches: a single stack's, or one node of a multi-node stack.
    A node that is not running gets its files and its controller's snapshot (it starts with
    them), without AMI."""

    name: str
    connect: Callable[[], AmiSession]
    install: Callable[[Path], None]
    snapshot: Path
    running: bool = True


async def reload_dialplan(
    directory: Path,
    *,
    app: str,
    connect: Callable[[], AmiSession],
    install: Callable[[Path], None],
    snapshot: Path,
) -> dict[str, TenantFlows]:
    """Validate ``directory``; only when clean: install its .conf files, reload Asterisk's
    dialplan over AMI, then write the definitions to ``snapshot``.

    Raises ``DefinitionErrors`` (nothing was touched) or ``AmiError`` (Asterisk unreachable:
    nothing was touched; or the reload action failed after the files were copied).
    """
    target = ReloadTarget("asterisk", connect, install, snapshot)
    return await reload_everywhere(directory, app=app, targets=[target])


async def reload_everywhere(
    directory: Path, *, app: str, targets: Sequence[ReloadTarget]
) -> dict[str, TenantFlows]:
    """:func:`reload_dialplan` on every target (each node of a multi-node stack): validated
    once; every running Asterisk is connected to before anything is copied (one unreachable:
    nothing changes anywhere); then each gets the files and a reload, and each controller
    its snapshot."""
    flows = load_definitions(directory, app=app)
    async with AsyncExitStack() as stack:
        sessions = {
            t.name: await stack.enter_async_context(t.connect()) for t in targets if t.running
        }
        for target in targets:
            target.install(directory)
            log.info("dialplan files of %s installed on %s", directory, target.name)
            ami = sessions.get(target.name)
            if ami is None:
                log.info("%s is not running: it starts with the new dialplan", target.name)
                continue
            output = await ami.command("dialplan reload")
            log.info("%s: %s", target.name, output.strip())
    for target in targets:
        write_snapshot(target.snapshot, flows)
        log.info("flow definitions of %d tenant(s) written to %s", len(flows), target.snapshot)
    return flows


def reload_targets(settings: Settings) -> list[ReloadTarget]:
    """The single stack's Asterisk, or every node of the multi-node stack this state dir
    started (`linja stack up --nodes N`)."""
    count = nodes.recorded_count(settings)
    each = (
        [nodes.node_settings(settings, i, count) for i in range(count)]
        if count >= 2
        else [settings]
    )
    return [_target(s, f"node n{i}" if count >= 2 else "asterisk") for i, s in enumerate(each)]


def _target(settings: Settings, name: str) -> ReloadTarget:
    server = AsteriskServer(settings)

    def connect() -> Ami:
        secret = settings.require("ami_password")
        return Ami(settings.bind, settings.ami_port, settings.ami_user, secret)

    def install(source: Path) -> None:
        server.install_dialplan(source=source)

    return ReloadTarget(
        f"{name} ({settings.bind})",
        connect,
        install,
        settings.state_dir / SNAPSHOT_NAME,
        running=server.status().running,
    )


def _dialplan_dir(args: argparse.Namespace) -> Path:
    directory: Path = args.dir if args.dir is not None else project_root() / "dialplan"
    if not directory.is_dir():
        raise UsageError(f"--dir {directory}: not a directory")
    return directory


def _print_errors(directory: Path, errors: Sequence[DefinitionError]) -> None:
    for error in errors:
        print(error)
    print(f"linja: {len(errors)} error(s) in {directory}", file=sys.stderr)


def _summary(directory: Path, flows: dict[str, TenantFlows]) -> str:
    confs = len(list(directory.glob("*.conf")))
    tenants = ", ".join(sorted(flows)) or "none"
    return f"{confs} dialplan file(s), flow definitions of tenant(s): {tenants}"


def _check(args: argparse.Namespace) -> int:
    directory = _dialplan_dir(args)
    flows, errors = check_definitions(directory, app=Settings().ari_app)
    if errors:
        _print_errors(directory, errors)
        return 1
    print(f"{directory}: OK, {_summary(directory, flows)}")
    return 0


def _reload(args: argparse.Namespace) -> int:
    directory = _dialplan_dir(args)
    settings = Settings()
    try:
        targets = reload_targets(settings)
        flows = asyncio.run(reload_everywhere(directory, app=settings.ari_app, targets=targets))
    except DefinitionErrors as exc:
        _print_errors(directory, exc.errors)
        print("linja: reload refused; the running configuration is unchanged", file=sys.stderr)
        return 1
    except (AmiError, MissingSecret) as exc:
        print(f"linja: reload failed: {exc}", file=sys.stderr)
        return 1
    snapshots = ", ".join(str(t.snapshot) for t in targets)
    where = ""  # a single stack: said as before
    if len(targets) > 1:
        where = " on " + ", ".join(
            t.name + ("" if t.running else " (not running)") for t in targets
        )
    summary = _summary(directory, flows)
    print(f"reloaded from {directory}{where}: {summary}; definitions in {snapshots}")
    return 0
