"""The one set of rules for management input, used by the CLI and the API alike.

A *schema* maps each field a submission may hold to its rule and whether it is required.
:func:`validate` applies it to a mapping (a JSON body, or the CLI's options gathered into
one) and returns the clean values, or raises :class:`Invalid` naming **every** bad field at
once: unknown fields, missing required ones, wrong types and bad values. Nothing is changed
before validation passes.

Field names are the API's (``time_zone``, ``recording_retention``); the CLI shows them as its
options (``--time-zone``). The rules mirror the database's CHECK constraints, which stay as
the last word.
"""

from __future__ import annotations

import re
import zoneinfo
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from functools import cache
from typing import Any

from ivr.admin.durations import BadDuration, parse_retention
from storage.errors import NotFound
from storage.events import Role
from storage.models.tenants import SERVICES
from storage.models.users import EMAIL_RE, LOGIN_RE, PHONE_RE

LANGUAGES = ("fi", "sv", "en")
SLUG_RE = re.compile(r"^[a-z0-9][a-z0-9-]{0,63}$")
NUMBER_RE = re.compile(r"^[+]?[0-9*#]{1,32}$")
PHONE_LOGIN_RE = re.compile(r"^[0-9]{2,16}$")
PIN_RE = re.compile(r"^[0-9]{4,12}$")
PASSWORD_MIN, PASSWORD_MAX = 10, 200
NAME_MAX = 200
DESCRIPTION_MAX = 200
FIELD_NAME_MAX = 40

# The database's own patterns (POSIX classes spelt for Python's re).
_LOGIN = re.compile(LOGIN_RE)
_PHONE = re.compile(PHONE_RE)
_EMAIL = re.compile(EMAIL_RE.replace("[:space:]", r"\s"))


class FieldError(ValueError):
    """One field's value is wrong; the message says what, for a person."""


class Invalid(ValueError):
    """A submission with bad fields: ``errors`` maps every bad field to what is wrong."""

    def __init__(self, errors: Mapping[str, str], detail: str = "the input has invalid fields"):
        super().__init__(detail + ": " + "; ".join(f"{k}: {v}" for k, v in errors.items()))
        self.detail = detail
        self.errors = dict(errors)


Rule = Callable[[object], object]


@dataclass(frozen=True)
class Field:
    rule: Rule
    required: bool = False
    nullable: bool = False  # JSON null (CLI: an empty value) clears the field


Schema = Mapping[str, Field]


Check = Callable[[Mapping[str, Any]], dict[str, str]]


def validate(
    data: Mapping[str, object],
    schema: Schema,
    *,
    fixed: Mapping[str, str] | None = None,
    checks: Sequence[Check] = (),
) -> dict[str, Any]:
    """The clean values of ``data`` under ``schema``; :class:`Invalid` with every bad field.

    ``fixed`` names fields that exist but may not be given here, with the reason; ``checks``
    look at fields together (their findings join the others; a field already found bad is
    not named twice)."""
    errors: dict[str, str] = {}
    out: dict[str, Any] = {}
    for key in data:
        name = str(key)[:FIELD_NAME_MAX]
        if key in (fixed or {}):
            errors[name] = (fixed or {})[key]
        elif key not in schema:
            errors[name] = "unknown field"
    for key, spec in schema.items():
        if key not in data:
            if spec.required:
                errors[key] = "required"
            continue
        value = data[key]
        if value is None:
            if spec.nullable:
                out[key] = None
            else:
                errors[key] = "required" if spec.required else "may not be null"
            continue
        try:
            out[key] = spec.rule(value)
        except FieldError as exc:
            errors[key] = str(exc)
    for check in checks:
        for key, problem in check(out).items():
            errors.setdefault(key, problem)
    if errors:
        raise Invalid(errors)
    return out


# -- the rules -----------------------------------------------------------------------------


def _text(value: object, what: str, limit: int) -> str:
    if not isinstance(value, str):
        raise FieldError(f"must be {what} (a string)")
    if len(value) > limit:
        raise FieldError(f"must be at most {limit} characters")
    return value


def slug(value: object) -> str:
    text = _text(value, "a slug", 64)
    if not SLUG_RE.match(text):
        raise FieldError("must be 1-64 of a-z, 0-9 and '-', starting with a letter or digit")
    return text


def display_name(value: object) -> str:
    text = _text(value, "a name", NAME_MAX).strip()
    if not text:
        raise FieldError("must not be empty")
    if not text.isprintable():
        raise FieldError("must be printable text (no control characters)")
    return text


def language(value: object) -> str:
    if value not in LANGUAGES:
        raise FieldError(f"must be one of {', '.join(LANGUAGES)}")
    assert isinstance(value, str)
    return value


@cache
def _zones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


def time_zone(value: object) -> str:
    text = _text(value, "an IANA time zone", 64)
    if text not in _zones():
        raise FieldError("not a known IANA time zone (e.g. Europe/Helsinki)")
    return text


def switch(value: object) -> bool:
    """true/false (JSON), or on/off (the CLI)."""
    if isinstance(value, bool):
        return value
    if value in ("on", "off"):
        return value == "on"
    raise FieldError("must be true or false (on or off)")


def retention(value: object) -> timedelta:
    if not isinstance(value, str):
        raise FieldError("must be a duration string like 90d, 3m or 1y")
    try:
        return parse_retention(value)
    except BadDuration as exc:
        raise FieldError(str(exc)) from None


def service_number(value: object) -> str:
    text = _text(value, "a service number", 33)
    if not NUMBER_RE.match(text):
        raise FieldError("must be 1-32 digits (also * and #), optionally after a +")
    return text


def service_kind(value: object) -> str:
    if value not in SERVICES:
        raise FieldError(f"must be one of {', '.join(SERVICES)}")
    assert isinstance(value, str)
    return value


def description(value: object) -> str:
    text = _text(value, "a description", DESCRIPTION_MAX).strip()
    if not text.isprintable():
        raise FieldError("must be printable text (no control characters)")
    return text


def login(value: object) -> str:
    text = _text(value, "a login", 100)
    if not _LOGIN.match(text):
        raise FieldError("must be 2-100 of a-z, 0-9 and . _ @ -")
    return text


def email(value: object) -> str:
    text = _text(value, "an e-mail address", 320).strip()
    if not _EMAIL.match(text):
        raise FieldError("not an e-mail address")
    return text


def phone_number(value: object) -> str:
    text = _text(value, "a phone number", 40)
    compact = re.sub(r"[\s-]", "", text)
    if not _PHONE.match(compact):
        raise FieldError("must be 3-20 digits, optionally after a +")
    return compact


def role(value: object) -> Role:
    for known in Role:
        if value == known.value:
            return known
    raise FieldError(f"must be one of {', '.join(r.value for r in Role)}")


def password(value: object) -> str:
    if not isinstance(value, str):
        raise FieldError("must be a string")
    if not PASSWORD_MIN <= len(value) <= PASSWORD_MAX:
        raise FieldError(f"must be {PASSWORD_MIN}-{PASSWORD_MAX} characters")
    if not value.isprintable() or value.strip() != value:
        raise FieldError("must be printable, without leading or trailing spaces")
    return value


def phone_login(value: object) -> str:
    text = _text(value, "digits", 16)
    if not PHONE_LOGIN_RE.match(text):
        raise FieldError("must be 2-16 digits")
    return text


def pin(value: object) -> str:
    text = _text(value, "digits", 12)
    if not PIN_RE.match(text):
        raise FieldError("must be 4-12 digits")
    return text


# -- the schemas ---------------------------------------------------------------------------

RETENTIONS = {
    # API / CLI field -> tenants column
    "recording_retention": "recording_retention",
    "voice_message_retention": "voicemail_retention",
    "case_retention": "case_retention",
    "transcript_retention": "transcript_retention",
}
# API / CLI fields whose tenants column has another name (besides the retentions)
COLUMNS = {**RETENTIONS, "transcripts": "transcripts_enabled"}
TENANT_SETTINGS: Schema = {
    "name": Field(display_name),
    "language": Field(language),
    "time_zone": Field(time_zone),
    **{k: Field(retention) for k in RETENTIONS},
    "transcripts": Field(switch),
}
TENANT_CREATE: Schema = {
    "slug": Field(slug, required=True),
    **TENANT_SETTINGS,
    "name": Field(display_name, required=True),
}
TENANT_FIXED = {"slug": "cannot be changed (the dialplan and flow files name it)"}

NUMBER_CREATE: Schema = {
    "number": Field(service_number, required=True),
    "tenant": Field(slug, required=True),
    "service": Field(service_kind, required=True),
    "description": Field(description),
}

USER_CREATE: Schema = {
    "login": Field(login, required=True),
    "name": Field(display_name, required=True),
    "role": Field(role, required=True),
    "tenant": Field(slug, nullable=True),
    "password": Field(password, required=True),
    "email": Field(email),
    "phone_number": Field(phone_number),
}
USER_UPDATE: Schema = {
    "name": Field(display_name),
    "email": Field(email, nullable=True),
    "phone_number": Field(phone_number, nullable=True),
    "role": Field(role),
}
USER_FIXED = {
    "login": "cannot be changed",
    "tenant": "cannot be changed",
    "password": "set it with the password endpoint or `linja user passwd`",
}
PASSWORD: Schema = {"password": Field(password, required=True)}
PHONE_LOGIN: Schema = {
    "phone_login": Field(phone_login, required=True, nullable=True),
    "pin": Field(pin),
}


def tenant_columns(values: Mapping[str, Any]) -> dict[str, object]:
    """Validated tenant fields as ``tenants`` columns (the slug is not one to change)."""
    return {COLUMNS.get(k, k): v for k, v in values.items() if k != "slug"}


def user_tenant_check(values: Mapping[str, Any]) -> dict[str, str]:
    """An operator has no tenant; everyone else names one (checked once the role is valid)."""
    if "role" not in values:
        return {}
    operator = values["role"] is Role.OPERATOR
    if operator and values.get("tenant") is not None:
        return {"tenant": "an operator belongs to no tenant"}
    if not operator and values.get("tenant") is None:
        return {"tenant": "required for the roles admin, team and external"}
    return {}


def phone_login_check(values: Mapping[str, Any]) -> dict[str, str]:
    """A phone login needs a PIN; clearing it (null) takes none."""
    if "phone_login" not in values:
        return {}
    if values["phone_login"] is None and values.get("pin") is not None:
        return {"pin": "only with a phone login"}
    if values["phone_login"] is not None and values.get("pin") is None:
        return {"pin": "required with a phone login"}
    return {}


def validate_tenant_create(data: Mapping[str, object]) -> dict[str, Any]:
    return validate(data, TENANT_CREATE)


def validate_tenant_update(data: Mapping[str, object]) -> dict[str, Any]:
    values = validate(data, TENANT_SETTINGS, fixed=TENANT_FIXED)
    if not values:
        raise Invalid({"body": "nothing to change"})
    return values


def validate_number(data: Mapping[str, object]) -> dict[str, Any]:
    return validate(data, NUMBER_CREATE)


def validate_user_create(data: Mapping[str, object]) -> dict[str, Any]:
    return validate(data, USER_CREATE, checks=(user_tenant_check,))


def validate_user_update(data: Mapping[str, object]) -> dict[str, Any]:
    values = validate(data, USER_UPDATE, fixed=USER_FIXED)
    if not values:
        raise Invalid({"body": "nothing to change"})
    return values


def validate_password(data: Mapping[str, object]) -> str:
    value: str = validate(data, PASSWORD)["password"]
    return value


def validate_phone_login(data: Mapping[str, object]) -> tuple[str | None, str | None]:
    values = validate(data, PHONE_LOGIN, checks=(phone_login_check,))
    return values["phone_login"], values.get("pin")


def service_number_or_404(value: str) -> str:
    """A number from a path or argument: a malformed one is simply not there (NotFound)."""
    if not NUMBER_RE.match(value):
        raise NotFound("service number", value[:40])
    return value
