"""`linja tenant | number | user`: the management plane from the shell.

    linja tenant add SLUG --name NAME [--language fi|sv|en] [--time-zone ZONE]
                     [--recording-retention 3m] [--voice-message-retention 3m]
                     [--case-retention 1y]
    linja tenant set SLUG [the same options but the slug]
    linja tenant list | show SLUG
    linja number add NUMBER --tenant SLUG --service KIND [--description TEXT] [--dialplan-dir DIR]
    linja number list [--tenant SLUG] | remove NUMBER
    linja user add LOGIN --name NAME --role ROLE [--tenant SLUG] [--email E] [--phone-number N]
                   [--password-stdin]
    linja user list [--tenant SLUG] | show LOGIN | disable LOGIN | enable LOGIN
    linja user passwd LOGIN [--password-stdin]
    linja user set-phone-login LOGIN (--phone-login DIGITS [--pin-stdin] | --clear)

Every command takes ``--json`` (the API's shapes on stdout; errors as ``{"error", "errors"}``)
and ``--by LOGIN``: the change is audited as that user (an active operator, or an admin of
the tenant concerned: admins may not add tenants or numbers, nor touch other tenants).
Without ``--by`` the CLI acts as the system component ``cli`` (whoever may run it on the
server is trusted). Passwords and PINs are never arguments: a prompt (asked twice), or one
line on stdin with ``--password-stdin`` / ``--pin-stdin``.

Exit codes: 0 done, 1 the database failed, 2 bad input (every bad option is named; nothing
changed).
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import json
import sys
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any, TypeAlias

from ivr.admin.operations import Management, page_after, page_limit
from ivr.admin.validation import (
    PASSWORD_MIN,
    RETENTIONS,
    FieldError,
    Invalid,
    phone_login,
    validate_tenant_update,
    validate_user_create,
)
from ivr.admin.views import number_view, tenant_view, user_view
from ivr.config import Settings, project_root
from ivr.http.guard import Principal
from ivr.http.problems import Problem
from storage.db import short_lived_sessions
from storage.domain import Actor, UserInfo
from storage.errors import NotFound, NumberInUse, StorageError
from storage.events import Role
from storage.repositories.tenants import TenantRepository
from storage.repositories.users import UserRepository

Sub: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"
Run = Callable[["Context"], Awaitable[dict[str, Any]]]

POSITIONAL = {"slug": "SLUG", "number": "NUMBER", "login": "LOGIN"}
TENANT_OPTIONS = ("name", "language", "time_zone", *RETENTIONS)


class Refusal(Exception):
    """The ``--by`` user may not do this (exit 2)."""


def option_name(field: str) -> str:
    """How the CLI spells an API field: ``time_zone`` -> ``--time-zone``."""
    return POSITIONAL.get(field, "--" + field.replace("_", "-"))


# -- the context of one command run -----------------------------------------------------------


class Context:
    def __init__(self, args: argparse.Namespace, admin: Management, by: UserInfo | None):
        self.args = args
        self.admin = admin
        self.by = by
        self.actor = Actor.system("cli") if by is None else Actor.user(by)
        self.warnings: list[str] = []

    def operator_only(self) -> None:
        if self.by is not None and self.by.role is not Role.OPERATOR:
            raise Refusal(f"--by {self.by.login}: only an operator may do this")

    def scope(self, tenant_id: Any) -> None:
        """Refuse a --by admin another tenant's resource (the API guard's own rule)."""
        if self.by is None:
            return
        who = Principal(self.by, None if self.by.role is Role.OPERATOR else self.by.tenant_id)
        try:
            who.scope(tenant_id)
        except Problem:
            raise Refusal(f"--by {self.by.login}: not an admin of this tenant") from None

    async def slug(self, tenant_id: Any) -> str | None:
        return await self.admin.slug_of(tenant_id)

    def given(self, names: tuple[str, ...]) -> dict[str, object]:
        return {n: getattr(self.args, n) for n in names if getattr(self.args, n, None) is not None}


def read_secret(what: str, from_stdin: bool) -> str:
    """A password or PIN: one line of stdin, or typed twice at a prompt (never argv)."""
    if from_stdin:
        line = sys.stdin.readline()
        return line[:-1] if line.endswith("\n") else line
    if not sys.stdin.isatty():
        raise Invalid({what: f"no terminal to ask on: pipe it in with --{what}-stdin"})
    first = getpass.getpass(f"{what}: ")
    if getpass.getpass(f"{what} again: ") != first:
        raise Invalid({what: "the two entries differ"})
    return first


# -- tenants -----------------------------------------------------------------------------------


async def tenant_add(c: Context) -> dict[str, Any]:
    c.operator_only()
    data = {"slug": c.args.slug, **c.given(TENANT_OPTIONS)}
    return {"tenant": tenant_view(await c.admin.add_tenant(data, c.actor))}


async def tenant_set(c: Context) -> dict[str, Any]:
    validate_tenant_update(c.given(TENANT_OPTIONS))  # bad input: exit 2 before any lookup
    tenant = await c.admin.tenant(c.args.slug)
    c.scope(tenant.id)
    updated = await c.admin.update_tenant(tenant, c.given(TENANT_OPTIONS), c.actor)
    return {"tenant": tenant_view(updated)}


async def tenant_show(c: Context) -> dict[str, Any]:
    tenant = await c.admin.tenant(c.args.slug)
    c.scope(tenant.id)
    return {"tenant": tenant_view(tenant)}


async def tenant_list(c: Context) -> dict[str, Any]:
    limit, after = page_limit(c.args.limit), page_after(c.args.after)
    if c.by is not None and c.by.role is not Role.OPERATOR:
        assert c.by.tenant_id is not None
        own = await c.admin.tenants.get(c.by.tenant_id)
        return {"items": [tenant_view(own)], "next": None}
    page = await c.admin.tenant_page(after, limit)
    return {"items": [tenant_view(t) for t in page.items], "next": page.after}


# -- numbers -----------------------------------------------------------------------------------


async def number_add(c: Context) -> dict[str, Any]:
    c.operator_only()
    if c.args.dialplan_dir is not None:
        c.admin = c.admin.routed_by(c.args.dialplan_dir)
    data = {"number": c.args.number, **c.given(("tenant", "service", "description"))}
    added = await c.admin.add_number(data, c.actor)
    c.warnings += added.warnings
    return {"number": number_view(added.number, await c.slug(added.number.tenant_id))}


async def number_remove(c: Context) -> dict[str, Any]:
    c.operator_only()
    removed = await c.admin.remove_number(c.args.number, c.actor)
    return {"removed": number_view(removed, await c.slug(removed.tenant_id))}


async def _listed_tenant(c: Context) -> Any:
    if c.args.tenant is None:
        if c.by is not None and c.by.role is not Role.OPERATOR:
            return c.by.tenant_id
        return None
    tenant = await c.admin.tenant_of("tenant", c.args.tenant)
    c.scope(tenant.id)
    return tenant.id


async def number_list(c: Context) -> dict[str, Any]:
    limit, after = page_limit(c.args.limit), page_after(c.args.after)
    page = await c.admin.numbers(await _listed_tenant(c), after, limit)
    items = [number_view(n, await c.slug(n.tenant_id)) for n in page.items]
    return {"items": items, "next": page.after}


# -- users -------------------------------------------------------------------------------------


async def _target(c: Context) -> UserInfo:
    user = await c.admin.user(c.args.login)
    c.scope(user.tenant_id)
    return user


async def _shown(c: Context, user: UserInfo) -> dict[str, Any]:
    return {"user": user_view(user, await c.slug(user.tenant_id))}


async def user_add(c: Context) -> dict[str, Any]:
    data: dict[str, object] = {
        "login": c.args.login,
        **c.given(("name", "role", "tenant", "email", "phone_number")),
    }
    if c.by is not None and c.by.role is not Role.OPERATOR:
        if data.get("role") == Role.OPERATOR.value:
            raise Refusal(f"--by {c.by.login}: only an operator may create operators")
        if data.get("tenant") is not None:
            c.scope((await c.admin.tenant_of("tenant", str(data["tenant"]))).id)
    # Check everything else before asking for the password, so a typo costs no typing.
    validate_user_create(data | {"password": "x" * PASSWORD_MIN})
    data["password"] = read_secret("password", c.args.password_stdin)
    return await _shown(c, await c.admin.add_user(data, c.actor))


async def user_show(c: Context) -> dict[str, Any]:
    return await _shown(c, await _target(c))


async def user_list(c: Context) -> dict[str, Any]:
    limit, after = page_limit(c.args.limit), page_after(c.args.after)
    page = await c.admin.user_page(await _listed_tenant(c), after, limit)
    items = [user_view(u, await c.slug(u.tenant_id)) for u in page.items]
    return {"items": items, "next": page.after}


async def user_disable(c: Context) -> dict[str, Any]:
    return await _shown(c, await c.admin.disable(await _target(c), c.actor))


async def user_enable(c: Context) -> dict[str, Any]:
    return await _shown(c, await c.admin.enable(await _target(c), c.actor))


async def user_passwd(c: Context) -> dict[str, Any]:
    user = await _target(c)
    data = {"password": read_secret("password", c.args.password_stdin)}
    return await _shown(c, await c.admin.set_password(user, data, c.actor))


async def user_phone_login(c: Context) -> dict[str, Any]:
    if c.args.clear:
        data: dict[str, object] = {"phone_login": None}
    else:
        try:
            phone_login(c.args.phone_login)
        except FieldError as exc:
            raise Invalid({"phone_login": str(exc)}) from None
    user = await _target(c)
    if not c.args.clear:
        data = {"phone_login": c.args.phone_login, "pin": read_secret("pin", c.args.pin_stdin)}
    return await _shown(c, await c.admin.set_phone_login(user, data, c.actor))


# -- running a command ---------------------------------------------------------------------


def _human(result: Mapping[str, Any]) -> str:
    if "items" in result:
        lines = [_line(item) for item in result["items"]]
        if result.get("next"):
            lines.append(f"(more: --after {result['next']})")
        return "\n".join(lines) if lines else "(none)"
    (kind, item), *_ = result.items()
    prefix = "removed " if kind == "removed" else ""
    return prefix + _line(item, full=True)


def _line(item: Mapping[str, Any], *, full: bool = False) -> str:
    rest: tuple[str, ...]
    if "slug" in item:
        head = f"{item['slug']}  {item['name']}"
        rest = (
            "language",
            "time_zone",
            "recording_retention",
            "voice_message_retention",
            "case_retention",
        )
    elif "login" in item:
        state = "" if item["active"] else "  (disabled)"
        head = f"{item['login']}  {item['role']}  {item['tenant'] or '-'}  {item['name']}{state}"
        rest = ("email", "phone_number", "phone_login", "has_phone_pin") if full else ()
    else:
        head = f"{item['number']}  {item['service']}  {item['tenant']}"
        rest = ("description",) if full else ()
    extra = [f"{k}={item[k]}" for k in rest if item.get(k) not in (None, "")]
    return "  ".join([head, *extra])


async def _run_async(args: argparse.Namespace, run: Run) -> dict[str, Any]:
    settings = Settings()
    async with short_lived_sessions(settings) as sessions:
        admin = Management(
            TenantRepository(sessions),
            UserRepository(sessions),
            dialplan_dir=project_root() / "dialplan",
            app=settings.ari_app,
        )
        by = None
        if args.by is not None:
            try:
                by = await admin.user(args.by)
            except NotFound:
                raise Invalid({"by": f"no user '{args.by[:100]}'"}) from None
            if not by.active or not by.role.is_admin:
                raise Invalid({"by": f"'{by.login}' is not an active operator or admin"})
        ctx = Context(args, admin, by)
        result = await run(ctx)
        return {**result, "warnings": ctx.warnings}


def _fail(args: argparse.Namespace, code: int, message: str, errors: Mapping[str, str]) -> int:
    for field, problem in errors.items():
        print(f"linja: error: {option_name(field)}: {problem}", file=sys.stderr)
    if not errors:
        print(f"linja: error: {message}", file=sys.stderr)
    if args.json:
        shown = {option_name(k): v for k, v in errors.items()}
        print(json.dumps({"error": message, "errors": shown}, ensure_ascii=False))
    return code


def runner(run: Run) -> Callable[[argparse.Namespace], int]:
    def main(args: argparse.Namespace) -> int:
        try:
            result = asyncio.run(_run_async(args, run))
        except Invalid as exc:
            return _fail(args, 2, exc.detail, exc.errors)
        except Refusal as exc:
            return _fail(args, 2, str(exc), {})
        except (NotFound, NumberInUse) as exc:
            return _fail(args, 2, str(exc), {})
        except StorageError as exc:
            return _fail(args, 1, f"the database failed: {type(exc).__name__}: {exc}", {})
        for warning in result["warnings"]:
            print(f"linja: warning: {warning}", file=sys.stderr)
        if args.json:
            print(json.dumps(result, ensure_ascii=False))
        else:
            print(_human({k: v for k, v in result.items() if k != "warnings"}))
        return 0

    return main


# -- the parsers --------------------------------------------------------------------------


def _command(actions: Sub, name: str, text: str, run: Run) -> argparse.ArgumentParser:
    p = actions.add_parser(name, help=text)
    p.add_argument("--json", action="store_true", help="JSON output (the API's shapes)")
    p.add_argument("--by", metavar="LOGIN", help="the operator or admin doing this (audit)")
    p.set_defaults(func=runner(run))
    return p


def _page_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--limit", help="at most this many (1..200, default 50)")
    p.add_argument("--after", help="continue after this key (the previous page's last)")


def _tenant_options(p: argparse.ArgumentParser, *, creating: bool) -> None:
    p.add_argument("--name", required=creating, help="the customer's name")
    p.add_argument("--language", help="fi, sv or en (default fi)")
    p.add_argument("--time-zone", dest="time_zone", help="IANA zone (default Europe/Helsinki)")
    for field, what in (
        ("recording_retention", "recordings (default 3m)"),
        ("voice_message_retention", "voice messages (default 3m)"),
        ("case_retention", "case personal data (default 12m)"),
    ):
        p.add_argument(
            option_name(field),
            dest=field,
            metavar="DURATION",
            help=f"how long to keep {what}: 1d .. 36m, e.g. 90d, 3m, 1y",
        )


def register(sub: Sub) -> None:
    tenant = sub.add_parser("tenant", help="tenants (customers) and their settings")
    ta = tenant.add_subparsers(dest="action", required=True)
    p = _command(ta, "add", "add a tenant", tenant_add)
    p.add_argument("slug", help="short name used by the dialplan and flow files")
    _tenant_options(p, creating=True)
    p = _command(ta, "set", "change a tenant's settings (not its slug)", tenant_set)
    p.add_argument("slug")
    _tenant_options(p, creating=False)
    p = _command(ta, "show", "one tenant", tenant_show)
    p.add_argument("slug")
    _page_options(_command(ta, "list", "tenants by slug", tenant_list))

    number = sub.add_parser("number", help="service numbers: which tenant and service")
    na = number.add_subparsers(dest="action", required=True)
    p = _command(
        na, "add", "add a service number (warns when the dialplan does not route it)", number_add
    )
    p.add_argument("number")
    p.add_argument("--tenant", required=True, help="tenant slug")
    p.add_argument("--service", required=True, help="bulletin, answering, callcenter or taxi")
    p.add_argument("--description")
    p.add_argument("--dialplan-dir", type=Path, help="check routing here (default dialplan/)")
    p = _command(na, "remove", "remove a number without history", number_remove)
    p.add_argument("number")
    p = _command(na, "list", "service numbers", number_list)
    p.add_argument("--tenant", help="only this tenant's")
    _page_options(p)

    user = sub.add_parser("user", help="users: operators, and admins, team and external users")
    ua = user.add_subparsers(dest="action", required=True)
    p = _command(ua, "add", "add a user (the password is asked for)", user_add)
    p.add_argument("login")
    p.add_argument("--name", required=True)
    p.add_argument("--role", required=True, help="operator, admin, team or external")
    p.add_argument("--tenant", help="tenant slug (every role but operator)")
    p.add_argument("--email")
    p.add_argument("--phone-number", dest="phone_number")
    p.add_argument("--password-stdin", action="store_true", help="read the password from stdin")
    p = _command(ua, "list", "users by login", user_list)
    p.add_argument("--tenant", help="only this tenant's")
    _page_options(p)
    for name, text, run in (
        ("show", "one user", user_show),
        ("disable", "refuse the user's logins from now on", user_disable),
        ("enable", "let a disabled user log in again", user_enable),
    ):
        _command(ua, name, text, run).add_argument("login")
    p = _command(ua, "passwd", "set a user's password (asked for)", user_passwd)
    p.add_argument("login")
    p.add_argument("--password-stdin", action="store_true", help="read the password from stdin")
    p = _command(
        ua, "set-phone-login", "the digits and PIN for logging in by phone (*50)", user_phone_login
    )
    p.add_argument("login")
    which = p.add_mutually_exclusive_group(required=True)
    which.add_argument("--phone-login", dest="phone_login", metavar="DIGITS")
    which.add_argument("--clear", action="store_true", help="remove the phone login")
    p.add_argument("--pin-stdin", action="store_true", help="read the PIN from stdin")
