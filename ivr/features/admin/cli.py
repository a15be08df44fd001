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
import json
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from ivr.admin.operations import Management
from ivr.admin.validation import Invalid
from ivr.config import Settings, project_root
from ivr.features.admin.commands import (
    Context,
    Refusal,
    Run,
    Sub,
    number_add,
    number_list,
    number_remove,
    option_name,
    tenant_add,
    tenant_list,
    tenant_set,
    tenant_show,
    user_add,
    user_disable,
    user_enable,
    user_list,
    user_passwd,
    user_phone_login,
    user_show,
)
from storage.db import short_lived_sessions
from storage.errors import NotFound, NumberInUse, StorageError
from storage.repositories.tenants import TenantRepository
from storage.repositories.users import UserRepository

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
            "transcripts",
            "transcript_retention",
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
    p.add_argument(
        "--transcripts", choices=("on", "off"), help="transcribe recordings (default off)"
    )
    for field, what in (
        ("recording_retention", "recordings (default 3m)"),
        ("voice_message_retention", "voice messages (default 3m)"),
        ("case_retention", "case personal data (default 12m)"),
        ("transcript_retention", "transcripts (default 12m)"),
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
