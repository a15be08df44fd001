"""The one error body of the HTTP API: RFC 9457 problem details (``application/problem+json``).

Every error answer, whatever raised it, has this shape::

    {"type": "urn:linja:problem:validation", "title": "Bad Request", "status": 400,
     "detail": "the submission has invalid fields", "errors": {"phone": "not a phone number"}}

``errors`` (field -> what is wrong) is there only for validation problems and names every bad
field at once. Handlers and the guard raise a :class:`Problem` (or a domain error that
:mod:`ivr.http.edge` maps to one); nothing else builds an error response.

Exception tree::

    Exception
    └── Problem                  an HTTP error answer (.status .detail .errors .headers)
        ├── BadInput             400, ``errors`` names each bad field
        ├── Unauthenticated      401, carries the challenge (Basic or Bearer)
        ├── NotAllowed           403
        │   └── TenantRefused    403, a resource of another tenant
        ├── NotThere             404
        ├── Clash                409
        ├── TooLarge             413
        ├── UnsupportedMedia     415
        └── Unavailable          503, with ``Retry-After`` unless retrying cannot help
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from http import HTTPStatus

from aiohttp import web

PROBLEM_JSON = "application/problem+json"
BLANK = "about:blank"
RETRY_AFTER_S = 5


def problem_type(slug: str) -> str:
    return f"urn:linja:problem:{slug}"


def title_of(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def render(
    status: int,
    detail: str | None,
    *,
    type_: str = BLANK,
    errors: Mapping[str, str] | None = None,
    headers: Mapping[str, str] | None = None,
) -> web.Response:
    """The problem+json response for one error."""
    body: dict[str, object] = {"type": type_, "title": title_of(status), "status": status}
    if detail:
        body["detail"] = detail
    if errors is not None:
        body["errors"] = dict(errors)
    out = web.Response(
        status=status,
        text=json.dumps(body, ensure_ascii=False),
        content_type=PROBLEM_JSON,
        headers=dict(headers or {}),
    )
    out.headers.setdefault("Cache-Control", "no-store")
    return out


class Problem(Exception):
    """An error answer. Subclasses fix the status; ``slug`` names the problem type."""

    status = 500
    slug = "internal"

    def __init__(
        self,
        detail: str,
        *,
        errors: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        status: int | None = None,
        slug: str | None = None,
    ) -> None:
        super().__init__(detail)
        self.detail = detail
        self.errors = None if errors is None else dict(errors)
        self.headers = dict(headers or {})
        if status is not None:
            self.status = status
        if slug is not None:
            self.slug = slug

    def response(self) -> web.Response:
        return render(
            self.status,
            self.detail,
            type_=problem_type(self.slug),
            errors=self.errors,
            headers=self.headers,
        )


class BadInput(Problem):
    status, slug = 400, "validation"

    def __init__(self, detail: str, *, errors: Mapping[str, str] | None = None) -> None:
        super().__init__(detail, errors=errors if errors is not None else {})


class Unauthenticated(Problem):
    status, slug = 401, "unauthenticated"

    def __init__(self, detail: str, *, challenge: str) -> None:
        super().__init__(detail, headers={"WWW-Authenticate": challenge})


class NotAllowed(Problem):
    status, slug = 403, "forbidden"


class TenantRefused(NotAllowed):
    slug = "other-tenant"


class NotThere(Problem):
    status, slug = 404, "not-found"


class Clash(Problem):
    status, slug = 409, "conflict"


class TooLarge(Problem):
    status, slug = 413, "too-large"


class UnsupportedMedia(Problem):
    status, slug = 415, "unsupported-media-type"


class Unavailable(Problem):
    status, slug = 503, "unavailable"

    def __init__(self, detail: str, *, retry: bool = True) -> None:
        super().__init__(detail, headers={"Retry-After": str(RETRY_AFTER_S)} if retry else None)
