"""What every route answers to each kind of caller: the table behind
``tests/integration/test_route_matrix.py``. One line per route (method + the route's template,
as ``resource.canonical`` names it); a HEAD route uses its GET line.

The columns, in order: anonymous, an ``external`` user of tenant A, a ``team`` user of A (also
an agent of A's queue), an ``admin`` of A, an ``admin`` of tenant B, a platform ``operator``.
Path parameters are filled with fresh resources of tenant A before each cell (see
``Fill``); the operator names tenant A in ``?tenant=`` on routes that take the tenant
parameter (``tenant=True``). A 2xx of the admin of B must not show any of A's resources.

To add a route: one line, e.g.
``("GET", "/api/users"): row(401, 403, 403, 200, 200, 200, tenant=True),``
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

PRINCIPALS = ("anonymous", "external_a", "team_a", "admin_a", "admin_b", "operator")


@dataclass(frozen=True)
class Row:
    statuses: dict[str, int]
    tenant: bool = False  # the route takes ?tenant= (the operator names tenant A in it)
    params: dict[str, str] = field(default_factory=dict)  # path parameter -> fixed value/kind
    body: Any = None  # JSON body ("{phone}" / "{tenant}" filled per cell); None: {}
    setup: str | None = None  # what the cell needs first (see test_route_matrix.SETUPS)


def row(
    anonymous: int,
    external_a: int,
    team_a: int,
    admin_a: int,
    admin_b: int,
    operator: int,
    **kw: Any,
) -> Row:
    values = (anonymous, external_a, team_a, admin_a, admin_b, operator)
    return Row(dict(zip(PRINCIPALS, values, strict=True)), **kw)


SUBJECT = {"tenant": "{tenant}", "phone": "{phone}"}
LOGIN = {"login": "{me}", "password": "matrix-password-1"}  # the caller's own (anonymous: A's team)
USER = {"login": "user"}  # a fresh team user of A
GROUP = {"id": "group_id"}  # a fresh staff group of A, with one member
MEMBER = {"id": "group_id", "member": "member_id"}  # ... and that member
CALLOUT = {"id": "callout_id"}  # a fresh call-out of A (nobody dials it here)
NEW_USER = {
    "login": "{new_login}",
    "name": "Uusi",
    "role": "team",
    "tenant": "{tenant}",
    "password": "a-good-password",
}
PUBLIC = row(200, 200, 200, 200, 200, 200)

# fmt: off
EXPECTATIONS: dict[tuple[str, str], Row] = {
    # console: the JSON endpoints are public and in memory (health is 503 while ARI is not
    # connected: the fake ARI); the pages (console/) send nobody to /login (303, not followed)
    ("GET", "/"): row(303, 200, 200, 200, 200, 200),  # anonymous: to the login page
    ("GET", "/login"): PUBLIC,
    ("GET", "/language/{code}"): row(303, 303, 303, 303, 303, 303, params={"code": "en"}),
    ("GET", "/static/{name}"): row(200, 200, 200, 200, 200, 200, params={"name": "console.js"}),
    # the wallboard page: admin and team see their own tenant's (B's admin: B's), operators name it
    ("GET", "/wallboard"): row(303, 403, 200, 200, 200, 200, tenant=True),
    # console pages of cases, reports and work lists: admin and team of the tenant
    ("GET", "/cases"): row(303, 403, 200, 200, 200, 200, tenant=True),
    ("GET", "/cases/abandoned"): row(303, 403, 200, 200, 200, 200, tenant=True),
    ("GET", "/cases/{case_id}"): row(303, 403, 200, 200, 403, 200, tenant=True),
    ("GET", "/reports"): row(303, 403, 200, 200, 200, 200, tenant=True),
    ("GET", "/work"): row(303, 403, 200, 200, 200, 200, tenant=True),
    ("GET", "/agents"): row(303, 403, 200, 200, 200, 200, tenant=True),
    # staff call-out pages: as the API (another tenant's group or call-out: not found)
    ("GET", "/groups"): row(303, 403, 200, 200, 200, 200, tenant=True),
    ("GET", "/groups/{id}"): row(303, 403, 200, 200, 404, 200, tenant=True, params=GROUP),
    ("GET", "/callouts"): row(303, 403, 200, 200, 200, 200, tenant=True),
    ("GET", "/callouts/{id}"): row(303, 403, 200, 200, 404, 200, tenant=True, params=CALLOUT),
    ("GET", "/people"): row(303, 403, 403, 200, 200, 200, tenant=True),
    ("GET", "/audit"): row(303, 403, 403, 200, 200, 200, tenant=True),
    ("GET", "/admin/tenants"): row(303, 403, 403, 200, 200, 200),
    ("GET", "/admin/tenants/{slug}"): row(303, 403, 403, 200, 403, 200, params={"slug": "tenant"}),
    ("GET", "/admin/numbers"): row(303, 403, 403, 200, 200, 200),
    ("GET", "/admin/users"): row(303, 403, 403, 200, 200, 200),
    ("GET", "/admin/users/{login}"): row(303, 403, 403, 200, 403, 200, params=USER),
    ("GET", "/api/health"): row(503, 503, 503, 503, 503, 503),
    ("GET", "/api/bulletins"): PUBLIC,
    ("GET", "/api/stats"): PUBLIC,
    # bulletins from the console: admins change their tenant's numbers, admin and team read
    # (the demo number 100 is not tenant A's: 403 for A's users, 404 for the operator's empty
    # preview body aside)
    ("POST", "/api/bulletins/preview"): row(401, 403, 403, 400, 400, 400),
    ("POST", "/api/bulletins/{number}"): row(401, 403, 403, 404, 404, 404),
    ("POST", "/api/bulletins/{number}/{id}/end"): row(401, 403, 403, 404, 404, 404),
    ("GET", "/api/bulletins/{number}/fallback"): row(401, 403, 404, 404, 404, 404),
    ("GET", "/api/bulletins/{number}/{id}/audio"): row(401, 403, 404, 404, 404, 404),
    ("GET", "/bulletins"): row(303, 403, 200, 200, 200, 200, tenant=True),
    # Prometheus metrics: platform-wide traffic figures, operators only (a scraper's token)
    ("GET", "/metrics"): row(401, 403, 403, 403, 403, 200),
    # agents: the principal's tenant only; a team user changes only themselves
    ("GET", "/api/agents"): row(401, 403, 200, 200, 200, 200, tenant=True),
    ("POST", "/api/agents/{agent}/{action}"):
        row(401, 403, 200, 200, 403, 200, tenant=True, params={"action": "login"},
            setup="agents_logged_out"),
    # intake: a gateway's bearer token, never a user's Basic credentials
    ("POST", "/api/intake/{tenant}/{channel}"):
        row(401, 401, 401, 401, 401, 401, params={"channel": "sms"}),
    # contact requests of the tenant (B's admin sees B's: none of A's)
    ("GET", "/api/requests"): row(401, 403, 200, 200, 200, 200, tenant=True),
    ("POST", "/api/requests/claim"): row(401, 403, 200, 200, 204, 200, tenant=True),
    ("POST", "/api/requests/{id}/{action}"):
        row(401, 403, 200, 200, 404, 200, tenant=True,
            params={"id": "request", "action": "cancel"}),
    # live recording control (nothing is being recorded: 404 for whoever may ask)
    ("GET", "/api/recordings/live"): row(401, 403, 200, 200, 200, 200),
    ("GET", "/api/calls/{case_id}/recording"): row(401, 403, 404, 404, 404, 404),
    ("POST", "/api/calls/{case_id}/recording/{action}"):
        row(401, 403, 404, 404, 404, 404, params={"action": "pause"}),
    # listening: admin and team of the owning tenant only (operators never listen)
    ("GET", "/api/recordings/{id}"): row(401, 403, 200, 200, 403, 403, params={"id": "recording"}),
    ("GET", "/api/recordings/{id}/audio"):
        row(401, 403, 200, 200, 403, 403, params={"id": "recording"}),
    ("GET", "/api/voice-messages/{id}"):
        row(401, 403, 200, 200, 403, 403, params={"id": "voice_message"}),
    ("GET", "/api/voice-messages/{id}/audio"):
        row(401, 403, 200, 200, 403, 403, params={"id": "voice_message"}),
    ("GET", "/api/audio/{name}"): row(401, 403, 200, 200, 403, 403, params={"name": "audio_name"}),
    # cases: any user of the tenant (personal data only for admin/team); another tenant's: 403
    ("GET", "/api/cases"): row(401, 200, 200, 200, 200, 200, tenant=True),
    ("GET", "/api/cases/{case_id}"): row(401, 200, 200, 200, 403, 200),
    ("GET", "/api/reports/queues"): row(401, 200, 200, 200, 200, 200, tenant=True),
    ("GET", "/api/cases/{case_id}/audio"): row(401, 403, 200, 200, 403, 403),
    ("GET", "/api/cases/{case_id}/listening-events"): row(401, 403, 403, 200, 403, 403),
    ("POST", "/api/cases/{case_id}/export"): row(401, 403, 200, 200, 403, 403),
    # transcripts: listed by admin and team (and operators); a text is read (a listening
    # event) only by admin and team of the owning tenant
    ("GET", "/api/transcripts"): row(401, 403, 200, 200, 200, 200, tenant=True),
    ("GET", "/api/transcripts/{id}"):
        row(401, 403, 200, 200, 403, 403, params={"id": "transcript"}),
    # data-subject rights: admins of the tenant and operators
    ("POST", "/api/subjects/export"): row(401, 403, 403, 200, 403, 200, body=SUBJECT),
    ("POST", "/api/subjects/erase"): row(401, 403, 403, 200, 403, 200, body=SUBJECT),
    ("POST", "/api/subjects/restrict"): row(401, 403, 403, 200, 403, 200, body=SUBJECT),
    ("POST", "/api/subjects/unrestrict"):
        row(401, 403, 403, 200, 403, 200, body=SUBJECT, setup="subject_restricted"),
    # logins: a login names itself in its body; the rest act on the caller's own session/tokens
    ("POST", "/api/login"): row(200, 200, 200, 200, 200, 200, body=LOGIN),
    ("POST", "/api/logout"): row(401, 204, 204, 204, 204, 204),
    ("GET", "/api/session"): row(401, 200, 200, 200, 200, 200),
    ("GET", "/api/tokens"): row(401, 200, 200, 200, 200, 200),
    ("POST", "/api/tokens"): row(401, 201, 201, 201, 201, 201, body={"name": "ci"}),
    ("DELETE", "/api/tokens/{id}"):  # team-a's token: only team-a revokes it
        row(401, 404, 200, 404, 404, 404, params={"id": "token"}),
    # tenants: operators all; an admin their own (never the slug); nobody else
    ("GET", "/api/tenants"): row(401, 403, 403, 200, 200, 200),
    ("POST", "/api/tenants"):
        row(401, 403, 403, 403, 403, 201, body={"slug": "{new_slug}", "name": "Uusi Oy"}),
    ("GET", "/api/tenants/{slug}"): row(401, 403, 403, 200, 403, 200, params={"slug": "tenant"}),
    ("PATCH", "/api/tenants/{slug}"):
        row(401, 403, 403, 200, 403, 200, params={"slug": "tenant"}, body={"name": "Seinä A"}),
    # the wallboard: admin and team of the tenant, operators; the stream's first event is read
    ("GET", "/api/tenants/{slug}/wallboard"):
        row(401, 403, 200, 200, 403, 200, params={"slug": "tenant"}),
    ("GET", "/api/tenants/{slug}/wallboard/events"):
        row(401, 403, 200, 200, 403, 200, params={"slug": "tenant"}),
    # numbers: operators change them; an admin lists their own
    ("GET", "/api/numbers"): row(401, 403, 403, 200, 200, 200),
    ("POST", "/api/numbers"):
        row(401, 403, 403, 403, 403, 201,
            body={"number": "{new_number}", "tenant": "{tenant}", "service": "bulletin"}),
    ("DELETE", "/api/numbers/{number}"): row(401, 403, 403, 403, 403, 200),  # the removed one
    # users: operators all; an admin the users of their tenant; anyone their own record
    ("GET", "/api/users"): row(401, 403, 403, 200, 200, 200),
    ("POST", "/api/users"): row(401, 403, 403, 201, 403, 201, body=NEW_USER),
    ("GET", "/api/users/me"): row(401, 200, 200, 200, 200, 200),
    ("GET", "/api/users/{login}"): row(401, 403, 403, 200, 403, 200, params={"login": "user"}),
    ("PATCH", "/api/users/{login}"):
        row(401, 403, 403, 200, 403, 200, params={"login": "user"}, body={"name": "Uusi Nimi"}),
    ("POST", "/api/users/{login}/password"):
        row(401, 403, 403, 200, 403, 200, params={"login": "user"},
            body={"password": "another-good-password"}),
    ("POST", "/api/users/{login}/phone-login"):
        row(401, 403, 403, 200, 403, 200, params={"login": "user"},
            body={"phone_login": "{phone_login}", "pin": "4321"}),
    ("POST", "/api/users/{login}/disable"): row(401, 403, 403, 200, 403, 200, params=USER),
    ("POST", "/api/users/{login}/enable"): row(401, 403, 403, 200, 403, 200, params=USER),
    # staff call-outs: admin and team of the tenant; another tenant's group or call-out is
    # not found (404) rather than refused
    ("GET", "/api/groups"): row(401, 403, 200, 200, 200, 200, tenant=True),
    ("POST", "/api/groups"):
        row(401, 403, 201, 201, 201, 201, tenant=True, body={"name": "{new_slug}"}),
    ("GET", "/api/groups/{id}"): row(401, 403, 200, 200, 404, 200, tenant=True, params=GROUP),
    ("POST", "/api/groups/{id}/members"):
        row(401, 403, 201, 201, 404, 201, tenant=True, params=GROUP,
            body={"name": "Varamies", "numbers": ["0401112233"]}),
    ("PATCH", "/api/groups/{id}/members/{member}"):
        row(401, 403, 200, 200, 404, 200, tenant=True, params=MEMBER,
            body={"name": "Asentaja", "numbers": ["0401112244"], "available": False}),
    ("DELETE", "/api/groups/{id}/members/{member}"):
        row(401, 403, 204, 204, 404, 204, tenant=True, params=MEMBER),
    ("GET", "/api/callouts"): row(401, 403, 200, 200, 200, 200, tenant=True),
    ("POST", "/api/callouts"):
        row(401, 403, 201, 201, 400, 201, tenant=True,
            body={"group": "{group_name}", "message": "Myrsky", "needed": 1}),
    ("GET", "/api/callouts/{id}"): row(401, 403, 200, 200, 404, 200, tenant=True, params=CALLOUT),
    ("POST", "/api/callouts/{id}/cancel"):
        row(401, 403, 200, 200, 404, 200, tenant=True, params=CALLOUT),
}
# fmt: on
