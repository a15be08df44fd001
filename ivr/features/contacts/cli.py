"""`linja intake token --tenant T`: the bearer token a tenant's SMS, e-mail, chat and web-form
gateways send to `POST /api/intake/T/<channel>`.

The token is derived from the generated ``intake_secret`` (``.run/secrets.json``, written by
`linja stack up`); it is printed on stdout only, for the operator to put into the gateway.
"""

from __future__ import annotations

import argparse
import re

from ivr.commands import UsageError
from ivr.config import Settings
from ivr.contacts.tokens import intake_token

_TENANT = re.compile(r"^[a-z0-9][a-z0-9_-]*$")


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser("intake", help="contact-request webhooks (SMS, e-mail, chat, web)")
    actions = parser.add_subparsers(dest="action", required=True)
    token = actions.add_parser("token", help="print a tenant's intake bearer token")
    token.add_argument("--tenant", required=True, help="tenant slug, e.g. demo")
    token.set_defaults(func=_token)


def _token(args: argparse.Namespace) -> int:
    if not _TENANT.match(args.tenant):
        raise UsageError(f"not a tenant slug: {args.tenant!r}")
    settings = Settings()
    if settings.intake_secret is None:
        raise UsageError("no intake secret yet: run `linja stack up` (or set LINJA_INTAKE_SECRET)")
    print(intake_token(settings.intake_secret.get_secret_value(), args.tenant))
    return 0
