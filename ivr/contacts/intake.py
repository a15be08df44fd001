"""Validation of contact-request webhooks (SMS, e-mail, chat, web form). Pure: no I/O.

A gateway posts one JSON object (the web form may also post ``application/x-www-form-urlencoded``)
with these fields, all strings:

======================  =====  =====  =====  =====  ===================================
field                   sms    email  chat   web    meaning
======================  =====  =====  =====  =====  ===================================
``phone``               req.   --     opt.   opt.   sender's number: E.164 or Finnish
``email``               --     req.   opt.   opt.   sender's address
``name``                opt.   opt.   opt.   opt.   sender's name
``message``             req.   req.   req.   req.   the text
``subject``             --     opt.   --     opt.   e-mail subject / form topic
``to``                  opt.   opt.   --     --     the number or address it was sent to
``queue``               opt.   opt.   opt.   opt.   queue that should handle it
``idempotency_key``     opt.   opt.   opt.   opt.   or the ``Idempotency-Key`` header
======================  =====  =====  =====  =====  ===================================

Chat and web need a way back to the sender: ``phone`` or ``email`` (or both). Anything else
is refused, so nothing the feature does not need is ever stored. Every problem is reported at
once as ``{"field": "message"}`` in :class:`InvalidSubmission`.
"""

from __future__ import annotations

import hashlib
import json
import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Final
from urllib.parse import parse_qsl

from ivr.flowdefs.model import CallbackNumbers
from ivr.telephony.numbers import InvalidNumber, NumberPolicy, check_callable, parse_number
from storage.events import Channel

WRITTEN: Final = (Channel.SMS, Channel.EMAIL, Channel.CHAT, Channel.WEB)

MAX_NAME = 200
MAX_SUBJECT = 200
MAX_MESSAGE = 5000
MAX_EMAIL = 254
MAX_TO = 64
MAX_KEY = 128
MAX_FORM_FIELDS = 32

_REQUIRED: Final[dict[Channel, frozenset[str]]] = {
    Channel.SMS: frozenset({"phone", "message"}),
    Channel.EMAIL: frozenset({"email", "message"}),
    Channel.CHAT: frozenset({"message"}),
    Channel.WEB: frozenset({"message"}),
}
_COMMON = frozenset({"name", "message", "queue", "idempotency_key"})
_ALLOWED: Final[dict[Channel, frozenset[str]]] = {
    Channel.SMS: _COMMON | {"phone", "to"},
    Channel.EMAIL: _COMMON | {"email", "subject", "to"},
    Channel.CHAT: _COMMON | {"phone", "email"},
    Channel.WEB: _COMMON | {"phone", "email", "subject"},
}
_NEEDS_WAY_BACK: Final = frozenset({Channel.CHAT, Channel.WEB})

_QUEUE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_KEY = re.compile(r"^[\x21-\x7e]{1,128}$")  # MAX_KEY
_ATEXT = re.compile(r"^[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+$")
_LABEL = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")
_TO = re.compile(r"^[A-Za-z0-9+@._-]{1,64}$")  # MAX_TO
DEFAULT_NUMBERS: Final = CallbackNumbers()  # a tenant without [callbacks]: FI mobile + fixed line
PHONE_HINT = "not a phone number: use E.164 (+358401234567) or a Finnish number (040 123 4567)"


class InvalidSubmission(ValueError):
    """The submission was refused; ``errors`` maps each bad field to what is wrong with it."""

    def __init__(self, errors: Mapping[str, str]) -> None:
        super().__init__("; ".join(f"{k}: {v}" for k, v in errors.items()))
        self.errors = dict(errors)


@dataclass(frozen=True, slots=True)
class Submission:
    """A validated, normalised contact request, ready to store."""

    channel: Channel
    message: str
    name: str | None = None
    phone: str | None = None  # E.164
    email: str | None = None  # domain lower-cased
    queue: str | None = None  # as requested (None: the tenant's default)
    to: str | None = None
    idempotency_key: str | None = None

    def fingerprint(self) -> str:
        """SHA-256 of what was submitted (not the key): tells a retry from a different request
        that reuses the key."""
        body = {
            "channel": self.channel.value,
            "message": self.message,
            "name": self.name,
            "phone": self.phone,
            "email": self.email,
            "queue": self.queue,
            "to": self.to,
        }
        raw = json.dumps(body, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
        return hashlib.sha256(raw.encode()).hexdigest()


# ----- bodies -------------------------------------------------------------------------------


def parse_json(body: bytes) -> dict[str, object]:
    """A JSON object from a request body (duplicate keys refused)."""
    try:
        data = json.loads(body.decode("utf-8"), object_pairs_hook=_unique)
    except UnicodeDecodeError:
        raise InvalidSubmission({"body": "not UTF-8"}) from None
    except json.JSONDecodeError as exc:
        raise InvalidSubmission(
            {"body": f"not valid JSON: {exc.msg} (line {exc.lineno} column {exc.colno})"}
        ) from None
    except RecursionError:
        raise InvalidSubmission({"body": "JSON nested too deeply"}) from None
    if not isinstance(data, dict):
        raise InvalidSubmission({"body": f"expected a JSON object, got {_json_type(data)}"})
    return data


def parse_form(body: bytes) -> dict[str, object]:
    """Fields of an ``application/x-www-form-urlencoded`` body (each at most once)."""
    try:
        text = body.decode("utf-8")
        items = parse_qsl(text, keep_blank_values=True, max_num_fields=MAX_FORM_FIELDS)
    except UnicodeDecodeError:
        raise InvalidSubmission({"body": "not UTF-8"}) from None
    except ValueError:
        raise InvalidSubmission({"body": f"more than {MAX_FORM_FIELDS} form fields"}) from None
    return _unique(items)


def _unique(items: Sequence[tuple[str, object]]) -> dict[str, object]:
    """Fields by name; a name given more than once is refused (which one would count?)."""
    out: dict[str, object] = {}
    for key, value in items:
        if key in out:
            raise InvalidSubmission({key: "given more than once"})
        out[key] = value
    return out


def _json_type(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    return "a string"


# ----- fields -------------------------------------------------------------------------------


class _FieldError(ValueError):
    pass


def _text(value: str, limit: int, *, multiline: bool = False) -> str:
    if multiline:
        value = value.replace("\r\n", "\n").replace("\r", "\n")
    for ch in value:
        if unicodedata.category(ch) in ("Cc", "Cs") and not (multiline and ch in "\n\t"):
            raise _FieldError(f"contains a control character (U+{ord(ch):04X})")
    value = value.strip()
    if len(value) > limit:
        raise _FieldError(f"longer than {limit} characters")
    return value


def normalise_phone(raw: str, policy: NumberPolicy = DEFAULT_NUMBERS) -> str:
    """E.164 (``+358401234567``) from E.164, ``00``-international or a Finnish number: the
    same rules as a number keyed in for a callback (:func:`ivr.telephony.numbers.parse_number`),
    plus the written habits "+358 (0)40 ..." and "+358 040 ..." (the trunk 0 kept). The number
    is a way back to the sender, so it must be one callbacks may dial (``policy``: the
    tenant's ``[callbacks]``; premium-rate, service and foreign numbers are refused)."""
    compact = re.sub(r"[\s\-.()]", "", raw.replace("(0)", ""))
    if compact.startswith("+3580"):
        compact = "+358" + compact[5:]
    try:
        number = parse_number(compact)
    except InvalidNumber as exc:
        raise _FieldError(f"{PHONE_HINT} ({exc.reason})") from None
    try:
        check_callable(number, policy)
    except InvalidNumber as exc:
        raise _FieldError(f"not a number we can call back: {exc.reason}") from None
    return number.e164


def normalise_email(raw: str) -> str:
    """A syntactically valid address (dot-atom local part, DNS domain), domain lower-cased."""
    if len(raw) > MAX_EMAIL:
        raise _FieldError(f"longer than {MAX_EMAIL} characters")
    local, at, domain = raw.rpartition("@")
    if not at or not local or not domain:
        raise _FieldError("not an e-mail address (name@example.fi)")
    if len(local) > 64:
        raise _FieldError("the part before @ is longer than 64 characters")
    atoms = local.split(".")
    if any(not a or not (_ATEXT.match(a) or (not a.isascii() and _unicode_atom(a))) for a in atoms):
        raise _FieldError("not an e-mail address: the part before @ has characters not allowed")
    try:
        ascii_domain = domain.encode("idna").decode("ascii").lower()
    except UnicodeError:
        raise _FieldError("not an e-mail address: bad domain") from None
    labels = ascii_domain.split(".")
    if len(labels) < 2 or not all(_LABEL.match(label) for label in labels):
        raise _FieldError("not an e-mail address: bad domain")
    if labels[-1].isascii() and labels[-1].isdigit():
        raise _FieldError("not an e-mail address: bad domain")
    return f"{local}@{domain.lower()}"


def _unicode_atom(atom: str) -> bool:
    return all(ch.isalnum() or _ATEXT.match(ch) for ch in atom)


# ----- the submission -----------------------------------------------------------------------


def validate(
    channel: Channel,
    data: Mapping[str, object],
    *,
    idempotency_header: str | None = None,
    numbers: NumberPolicy = DEFAULT_NUMBERS,
) -> Submission:
    """The normalised submission, or :class:`InvalidSubmission` naming every bad field.
    ``numbers``: which phone numbers the tenant accepts (its flow file's ``[callbacks]``)."""
    if channel not in WRITTEN:
        raise InvalidSubmission({"channel": f"{channel.value} is not a written channel"})
    errors: dict[str, str] = {}
    allowed, required = _ALLOWED[channel], _REQUIRED[channel]
    values: dict[str, str] = {}
    for field in sorted(data):
        value = data[field]
        if field not in allowed:
            known = field in set().union(*_ALLOWED.values())
            errors[field] = f"not accepted for {channel.value}" if known else "unknown field"
            continue
        if value is None:
            continue
        if not isinstance(value, str):
            errors[field] = f"must be a string, not {_json_type(value)}"
            continue
        values[field] = value

    cleaners = {
        "name": lambda v: _text(v, MAX_NAME),
        "subject": lambda v: _text(v, MAX_SUBJECT),
        "message": lambda v: _text(v, MAX_MESSAGE, multiline=True),
        "phone": lambda v: normalise_phone(_text(v, 40), numbers),
        "email": lambda v: normalise_email(_text(v, MAX_EMAIL)),
        "queue": lambda v: _match(_text(v, 64), _QUEUE, "letters, digits, _ and - only"),
        "to": lambda v: _match(_text(v, MAX_TO), _TO, "a number or an address"),
        "idempotency_key": lambda v: _match(v, _KEY, f"1-{MAX_KEY} visible ASCII characters"),
    }
    clean: dict[str, str] = {}
    for field, value in values.items():
        if not value.strip():
            continue  # an empty form field is an absent one
        try:
            out = cleaners[field](value)
        except _FieldError as exc:
            errors[field] = str(exc)
            continue
        if out:
            clean[field] = out

    for field in sorted(required):
        if field not in clean and field not in errors:
            errors[field] = "required"
    if channel in _NEEDS_WAY_BACK and not ({"phone", "email"} & (clean.keys() | errors.keys())):
        errors["phone"] = "give a phone number or an e-mail address (or both)"

    key: str | None = clean.get("idempotency_key")
    if idempotency_header is not None:
        if not _KEY.match(idempotency_header):
            errors["Idempotency-Key"] = f"1-{MAX_KEY} visible ASCII characters"
        elif key is not None and key != idempotency_header:
            errors["idempotency_key"] = "differs from the Idempotency-Key header"
        else:
            key = idempotency_header
    if errors:
        raise InvalidSubmission(errors)

    message = clean["message"]
    if "subject" in clean:
        message = f"{clean['subject']}\n\n{message}"
    return Submission(
        channel=channel,
        message=message,
        name=clean.get("name"),
        phone=clean.get("phone"),
        email=clean.get("email"),
        queue=clean.get("queue"),
        to=clean.get("to"),
        idempotency_key=key,
    )


def _match(value: str, pattern: re.Pattern[str], hint: str) -> str:
    if value and not pattern.match(value):
        raise _FieldError(hint)
    return value
