"""Who a request is: a browser session, a personal API token or a login and password.

:class:`Identity` is the credential side of the guard (:mod:`ivr.http.guard`):

- **passwords** (HTTP Basic, ``POST /api/login``) go through per-login and per-address
  :class:`~ivr.http.backoff.Backoff` (429 with ``Retry-After`` while one must wait), then
  :class:`storage.credentials.PasswordCheck` on the bounded argon2 pool (a full pool is a
  503 with ``Retry-After: 1``, not a queue). A failure is audited as ``login.failed`` with
  the login as typed, never the password, and nothing that says whether the login exists;
- **sessions**: the cookie :data:`SESSION_COOKIE` holds a random token; the database holds
  its SHA-256 (:class:`storage.repositories.logins.WebSessionRepository`), checked on every
  request, so a logout or a disabled user ends it at once. The session's CSRF token is an
  HMAC of the cookie's token: the server recomputes it, the page learns it only from
  ``GET /api/session``, and a cross-site page can read neither;
- **personal API tokens**: ``Authorization: Bearer lpat_…`` (:data:`TOKEN_PREFIX`, unlike
  the tenants' intake tokens), stored hashed, revocable, with an optional expiry.

Both backoffs live in memory only (addresses are personal data; logins need no more: a
restart forgets them, but the pool's bound caps how many guesses per second any number of
clients get through argon2 at all).
"""

from __future__ import annotations

import hashlib
import hmac
import re
from dataclasses import dataclass
from datetime import timedelta

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from ivr.clock import Clock
from ivr.config import Settings
from ivr.http.backoff import Backoff, retry_after
from ivr.http.problems import NotAllowed, Problem
from storage.credentials import PasswordCheck, VerifiedCache
from storage.domain import Actor, UserInfo, WebSessionInfo
from storage.passwords import BoundedPool, Hasher, PoolFull
from storage.repositories.audit import AuditLog
from storage.repositories.logins import ApiTokenRepository, WebSessionRepository

SESSION_COOKIE = "linja_session"
CSRF_HEADER = "X-CSRF-Token"
TOKEN_PREFIX = "lpat_"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_TOKEN = re.compile(r"^[A-Za-z0-9_-]{20,100}$")
_CSRF_LABEL = b"linja-csrf-v1"


class TooManyAttempts(Problem):
    status, slug = 429, "too-many-attempts"

    def __init__(self, wait: float) -> None:
        super().__init__(
            "too many failed logins; wait before trying again",
            headers={"Retry-After": retry_after(wait)},
        )


class PasswordsBusy(Problem):
    status, slug = 503, "busy"

    def __init__(self) -> None:
        super().__init__("too many logins at once; retry shortly", headers={"Retry-After": "1"})


class CsrfRefused(NotAllowed):
    slug = "csrf"


def well_formed(token: str) -> bool:
    """A token we could have minted (URL-safe base64 of the right length), before any lookup."""
    return _TOKEN.fullmatch(token) is not None


def csrf_token(session_token: str) -> str:
    """The CSRF token of a session (recomputed from the cookie, never stored)."""
    return hmac.new(session_token.encode(), _CSRF_LABEL, hashlib.sha256).hexdigest()


def csrf_matches(session_token: str, given: str | None) -> bool:
    if not given or len(given) > 128 or not given.isascii():
        return False
    return hmac.compare_digest(csrf_token(session_token).encode(), given.encode())


def set_session_cookie(
    response: web.StreamResponse, token: str, *, secure: bool, max_age: timedelta
) -> None:
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=int(max_age.total_seconds()),
        path="/",
        secure=secure,
        httponly=True,
        samesite="Strict",
    )


def clear_session_cookie(response: web.StreamResponse, *, secure: bool) -> None:
    response.del_cookie(SESSION_COOKIE, path="/", secure=secure, httponly=True, samesite="Strict")


@dataclass(frozen=True)
class SessionPolicy:
    idle: timedelta
    lifetime: timedelta


class Identity:
    def __init__(
        self,
        passwords: PasswordCheck,
        sessions: WebSessionRepository,
        tokens: ApiTokenRepository,
        audit: AuditLog,
        clock: Clock,
        policy: SessionPolicy,
        *,
        by_login: Backoff,
        by_address: Backoff,
        pool: BoundedPool | None = None,
    ) -> None:
        self.passwords, self.sessions, self.tokens = passwords, sessions, tokens
        self._audit, self.clock, self.policy = audit, clock, policy
        self.by_login, self.by_address, self._pool = by_login, by_address, pool

    @classmethod
    def build(
        cls,
        settings: Settings,
        db: async_sessionmaker[AsyncSession],
        hasher: Hasher,
        audit: AuditLog,
        clock: Clock,
    ) -> Identity:
        """The controller's identity: argon2 with ``hasher``'s parameters on a pool of its own."""
        pool = BoundedPool(
            settings.password_workers, settings.password_queue, nice=settings.password_nice
        )
        cache = VerifiedCache(clock, ttl=timedelta(seconds=settings.credential_cache_ttl))

        def backoff() -> Backoff:
            return Backoff(
                base=settings.login_backoff_base,
                cap=settings.login_backoff_cap,
                free=settings.login_free_failures,
            )

        return cls(
            PasswordCheck.on(db, hasher.on(pool), cache),
            WebSessionRepository(db),
            ApiTokenRepository(db),
            audit,
            clock,
            SessionPolicy(
                timedelta(seconds=settings.session_idle),
                timedelta(seconds=settings.session_lifetime),
            ),
            by_login=backoff(),
            by_address=backoff(),
            pool=pool,
        )

    @property
    def pool(self) -> BoundedPool | None:
        """The argon2 pool this identity owns (None: its hasher runs elsewhere)."""
        return self._pool

    async def close(self) -> None:
        if self._pool is not None:
            self._pool.close()

    async def password(
        self, login: str, password: str, address: str, *, via: str
    ) -> UserInfo | None:
        """The user with this login and password; None (audited) if wrong; 429 while backing
        off; 503 when the argon2 pool is full."""
        key = login[:101]  # longer logins name nobody: one key, a bounded size
        wait = max(self.by_login.wait(key), self.by_address.wait(address))
        if wait > 0:
            raise TooManyAttempts(wait)
        try:
            user = await self.passwords.check(login, password)
        except PoolFull:
            raise PasswordsBusy() from None
        if user is not None:
            self.by_login.succeeded(key)
            return user
        self.by_login.failed(key)
        self.by_address.failed(address)
        await self._audit.append(
            "login.failed", Actor.system("http"), details={"login": login[:100], "via": via}
        )
        return None

    async def session(self, token: str) -> WebSessionInfo | None:
        if not well_formed(token):
            return None
        return await self.sessions.current(token, self.clock(), self.policy.idle)

    async def token(self, bearer: str) -> UserInfo | None:
        """The user of a personal API token (``lpat_…``); None for anything else."""
        if not bearer.startswith(TOKEN_PREFIX) or not well_formed(bearer[len(TOKEN_PREFIX) :]):
            return None
        return await self.tokens.identify(bearer[len(TOKEN_PREFIX) :], self.clock())
