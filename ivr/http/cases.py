"""Cases over HTTP: list and search a tenant's cases, and one case with its queue stays.

Behind the guard (HTTP Basic as a Linja user: admin, team or external of the tenant; a
platform operator names the tenant with ``tenant=``)::

    GET /api/cases?from=&to=&service_number=&queue=&agent=&outcome=&channel=&limit=&after=
        newest first: {"items": [...], "next": "/api/cases?...&after=..." | null}
    GET /api/cases/{case_id}
        one case, with "queue_entries" (each stay: queue, entered, left, exit, wait) and
        "steps" (in time order: each menu attempt and each agent rung for the caller)

- ``from``/``to``: ISO 8601 times with a UTC offset (``Z`` or ``%2B02:00``: a ``+`` left
  unencoded in a URL arrives as a space and is read as ``+``); cases *started* in
  [from, to).
- ``service_number``, ``queue``, ``agent`` (the login of the agent who served the case),
  ``outcome`` (answered, abandoned, overflowed, ...), ``channel`` (phone, sms, ...): equal.
- ``limit``: 1..200 (default 50); ``after``: the cursor from the previous page's ``next``
  link (keyset pagination: stable while new cases arrive).

Each item: id, channel, service number, started / service started / ended, outcome, the
last queue and how the case left it, the waits and durations in seconds, the agent (id and
login) and links. The caller (number, name, e-mail) is shown only to admin and team users of
the case's tenant, as for listening (never to external users or platform operators), and
never for a case under a processing restriction (``"restricted": true``) or whose personal
data was erased (``"erased": true``): ``"caller": null`` then.

400 names every bad parameter (``errors``); 401 no or bad credentials; 403 another tenant's
case (or tenant); 404 no such case; 503 the database is down. Errors are problem+json.
"""

from __future__ import annotations

import base64
import binascii
import logging
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from aiohttp import web
from multidict import MultiMapping

from ivr.http.guard import Guard, Principal
from ivr.http.problems import BadInput, NotThere
from ivr.http.query import single_values, times
from storage.domain import CaseStepView, CaseView, QueueEntryView, UserInfo
from storage.errors import NotFound
from storage.events import Channel, Outcome, Role
from storage.repositories.cases import CaseCursor, CaseListed, CaseRepository, CaseSearch

log = logging.getLogger(__name__)

DEFAULT_LIMIT = 50
MAX_LIMIT = 200
PERSONAL_ROLES = frozenset({Role.ADMIN, Role.TEAM})
_TEXT_LIMITS = {"service_number": 64, "queue": 64, "agent": 100}
_PARAMS = frozenset({"from", "to", *_TEXT_LIMITS, "outcome", "channel", "limit", "after", "tenant"})


@dataclass(frozen=True)
class ListQuery:
    search: CaseSearch
    limit: int
    after: CaseCursor | None
    params: dict[str, str]  # as given, without ``after``: the next link repeats them


def may_see_personal(user: UserInfo, tenant_id: uuid.UUID) -> bool:
    """Who may see a caller's personal data: admin and team users of the case's tenant (the
    same people who may listen to its audio, :func:`recording.listen.may_listen`)."""
    return (
        user.disabled_at is None
        and user.role in PERSONAL_ROLES
        and user.tenant_id is not None
        and user.tenant_id == tenant_id
    )


# ----- the query ---------------------------------------------------------------------------


def encode_cursor(cursor: CaseCursor) -> str:
    raw = f"{cursor.started_at.isoformat()}|{cursor.id}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(text: str) -> CaseCursor:
    """The cursor of a ``next`` link; ValueError for anything else."""
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)).decode()
        when, _, ident = raw.partition("|")
        started = datetime.fromisoformat(when)
        case_id = uuid.UUID(ident)
    except (binascii.Error, UnicodeDecodeError, ValueError) as exc:
        raise ValueError("not a cursor from a next link") from exc
    if started.utcoffset() is None:
        raise ValueError("not a cursor from a next link")
    return CaseCursor(started, case_id)


def _parse_limit(text: str | None, errors: dict[str, str]) -> int:
    if text is None:
        return DEFAULT_LIMIT
    if not (text.isascii() and text.isdigit()) or not 1 <= int(text) <= MAX_LIMIT:
        errors["limit"] = f"must be a whole number from 1 to {MAX_LIMIT}"
        return DEFAULT_LIMIT
    return int(text)


def _parse_times(
    q: dict[str, str], errors: dict[str, str]
) -> tuple[datetime | None, datetime | None]:
    found = times(q, errors)
    since, until = found.get("from"), found.get("to")
    if since is not None and until is not None and until <= since:
        errors["to"] = "must be after from"
    return since, until


def _parse_enums(
    q: dict[str, str], errors: dict[str, str]
) -> tuple[Outcome | None, Channel | None]:
    outcome = channel = None
    if "outcome" in q:
        try:
            outcome = Outcome(q["outcome"])
        except ValueError:
            errors["outcome"] = "one of " + ", ".join(o.value for o in Outcome)
    if "channel" in q:
        try:
            channel = Channel(q["channel"])
        except ValueError:
            errors["channel"] = "one of " + ", ".join(c.value for c in Channel)
    return outcome, channel


def parse_list_query(query: MultiMapping[str], tenant_id: uuid.UUID) -> ListQuery:
    """The search a ``GET /api/cases`` asks for; BadInput naming every bad parameter."""
    errors: dict[str, str] = {}
    q = single_values(query, _PARAMS, errors)
    since, until = _parse_times(q, errors)
    outcome, channel = _parse_enums(q, errors)
    texts: dict[str, str | None] = {}
    for key, limit in _TEXT_LIMITS.items():
        value = q.get(key)
        if value is not None and not (0 < len(value) <= limit and value.isprintable()):
            errors[key] = f"must be 1 to {limit} printable characters"
            value = None
        texts[key] = value
    limit = _parse_limit(q.get("limit"), errors)
    after = None
    if "after" in q:
        try:
            after = decode_cursor(q["after"])
        except ValueError as exc:
            errors["after"] = str(exc)
    if errors:
        raise BadInput("the query has invalid parameters", errors=errors)
    search = CaseSearch(
        tenant_id,
        since=since,
        until=until,
        service_number=texts["service_number"],
        queue=texts["queue"],
        agent_login=texts["agent"],
        outcome=outcome,
        channel=channel,
    )
    params = {k: v for k, v in q.items() if k != "after"}
    return ListQuery(search, limit, after, params)


# ----- the answer --------------------------------------------------------------------------


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def _seconds(value: timedelta | None) -> float | None:
    return None if value is None else round(value.total_seconds(), 3)


def _entry_json(q: QueueEntryView) -> dict[str, Any]:
    return {
        "seq": q.seq,
        "queue": q.queue,
        "entered_at": _iso(q.entered_at),
        "left_at": _iso(q.left_at),
        "exit": q.exit_reason,
        "wait": _seconds(q.wait),
    }


def step_json(e: CaseStepView) -> dict[str, Any]:
    """A timeline step: a menu attempt (the key and option only when one was chosen) or an
    agent rung (from ``at`` to ``ended_at``, ``rang`` seconds, how it ended)."""
    if e.kind == "menu":
        return {
            "kind": e.kind,
            "at": _iso(e.at),
            "menu": e.menu,
            "result": e.result,
            "key": e.choice,
            "option": e.option,
        }
    return {
        "kind": e.kind,
        "at": _iso(e.at),
        "ended_at": _iso(e.ended_at),
        "rang": None if e.ended_at is None else _seconds(e.ended_at - e.at),
        "queue": e.queue,
        "agent": None
        if e.agent_login is None
        else {"id": _str(e.agent_id), "login": e.agent_login},
        "result": e.result,
    }


def _str(value: uuid.UUID | None) -> str | None:
    return None if value is None else str(value)


def _caller(c: CaseView, restricted: bool, user: UserInfo) -> dict[str, str | None] | None:
    if restricted or c.personal_data_erased_at is not None:
        return None
    if not may_see_personal(user, c.tenant_id):
        return None
    return {"number": c.caller_number, "name": c.caller_name, "email": c.caller_email}


def case_json(listed: CaseListed, user: UserInfo) -> dict[str, Any]:
    """A case as the API shows it to ``user`` (personal data only where allowed)."""
    c = listed.case
    last = c.queue_entries[-1] if c.queue_entries else None
    return {
        "id": str(c.id),
        "channel": c.channel.value,
        "service_number": c.service_number,
        "started_at": _iso(c.started_at),
        "service_started_at": _iso(c.service_started_at),
        "ended_at": _iso(c.ended_at),
        "outcome": None if c.outcome is None else c.outcome.value,
        "queue": None if last is None else last.queue,
        "queue_exit": None if last is None else last.exit_reason,
        "delay_before_service": _seconds(c.delay_before_service),
        "queue_wait": _seconds(c.queue_wait),
        "service_time": _seconds(c.service_time),
        "total_time": _seconds(c.total_time),
        "agent": (
            None if c.agent_id is None else {"id": str(c.agent_id), "login": listed.agent_login}
        ),
        "caller": _caller(c, listed.restricted, user),
        "restricted": listed.restricted,
        "erased": c.personal_data_erased_at is not None,
        "links": {"self": f"/api/cases/{c.id}", "audio": f"/api/cases/{c.id}/audio"},
    }


def parse_case_id(text: str) -> uuid.UUID:
    try:
        parsed = uuid.UUID(text)
    except ValueError:
        parsed = None
    if parsed is None or str(parsed) != text.lower():
        raise BadInput("bad case id", errors={"case_id": "must be a UUID"})
    return parsed


def add_routes(app: web.Application, cases: CaseRepository, guard: Guard) -> None:
    roles = (Role.ADMIN, Role.TEAM, Role.EXTERNAL)  # an operator passes as an admin

    @guard.requires(*roles, tenant_param="tenant")
    async def list_cases(request: web.Request, who: Principal) -> web.StreamResponse:
        query = parse_list_query(request.query, who.tenant())
        page = await cases.search(query.search, after=query.after, limit=query.limit)
        next_link = None
        if page.next is not None:
            params = {**query.params, "after": encode_cursor(page.next)}
            next_link = f"/api/cases?{urlencode(params)}"
        log.info("user %s listed %d case(s)", who.login, len(page.items))
        return web.json_response(
            {"items": [case_json(i, who.user) for i in page.items], "next": next_link},
            headers={"Cache-Control": "no-store"},
        )

    @guard.requires(*roles)
    async def one_case(request: web.Request, who: Principal) -> web.StreamResponse:
        case_id = parse_case_id(request.match_info["case_id"])
        errors = {k[:40]: "unknown parameter" for k in request.query}
        if errors:
            raise BadInput("the query has invalid parameters", errors=errors)
        try:
            listed = await cases.listed(case_id)
        except NotFound:
            raise NotThere(f"no case {case_id}") from None
        who.scope(listed.case.tenant_id)
        body = case_json(listed, who.user)
        body["queue_entries"] = [_entry_json(q) for q in listed.case.queue_entries]
        body["steps"] = [step_json(e) for e in listed.case.steps]
        return web.json_response(body, headers={"Cache-Control": "no-store"})

    app.router.add_get("/api/cases", list_cases, allow_head=False)
    app.router.add_get("/api/cases/{case_id}", one_case, allow_head=False)
