"""HTTP Basic authentication of Linja users, shared by every API module.

Credentials travel only in the ``Authorization`` header (never in URLs) and are checked
against the users table (argon2 hashes) by an :class:`Authenticator`. Each API module decides
what a missing or refused login answers; :data:`CHALLENGE` is the header a 401 carries.
"""

from __future__ import annotations

import base64
import binascii
from typing import Protocol

from aiohttp import web

from storage.domain import UserInfo

CHALLENGE = {"WWW-Authenticate": 'Basic realm="linja"'}


class Authenticator(Protocol):
    async def authenticate(self, login: str, password: str) -> UserInfo | None: ...


def basic_credentials(request: web.Request) -> tuple[str, str] | None:
    """(login, password) from an ``Authorization: Basic`` header; None if absent or garbled."""
    header = request.headers.get("Authorization", "")
    if not header.startswith("Basic "):
        return None
    try:
        raw = base64.b64decode(header[6:], validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        return None
    login, _, password = raw.partition(":")
    return (login, password) if login and password else None


async def authenticated_user(request: web.Request, users: Authenticator) -> UserInfo | None:
    """The user the request's Basic credentials belong to, None if there are none or wrong."""
    creds = basic_credentials(request)
    return await users.authenticate(*creds) if creds else None
