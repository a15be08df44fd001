"""The commands behind `linja tenant | number | user` (:mod:`ivr.features.admin.cli` parses
and prints): each takes the run's :class:`Context` and returns the JSON result. Bad input
raises :class:`~ivr.admin.validation.Invalid` before anything changes; a ``--by`` user who
may not do it, :class:`Refusal`.
"""

from __future__ import annotations

import argparse
import getpass
import sys
from collections.abc import Awaitable, Callable
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
from ivr.http.guard import Principal
from ivr.http.problems import Problem
from storage.domain import Actor, UserInfo
from storage.events import Role

Sub: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"
Run = Callable[["Context"], Awaitable[dict[str, Any]]]

POSITIONAL = {"slug": "SLUG", "number": "NUMBER", "login": "LOGIN"}
TENANT_OPTIONS = ("name", "language", "time_zone", *RETENTIONS, "transcripts")


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
