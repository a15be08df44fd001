"""AriClient: ARI's REST side over one pool of keep-alive connections (:mod:`ivr.ari.http1`).

Credentials travel only in the ``Authorization`` header (never ``api_key=`` in a URL) and
are never logged or put into exception messages.
"""

from __future__ import annotations

import asyncio
import base64
import json as jsonlib
import logging
import time
from collections.abc import Mapping
from types import TracebackType
from typing import Any, Protocol

from ivr.ari.errors import AriError, AriTimedOut, AriUnavailable, http_error, short_detail
from ivr.ari.http1 import Http1Pool, TransportError
from ivr.ari.protocol import Params
from ivr.ari.retry import RetryPolicy, sent_as_allowed

__all__ = [
    "AriClient",
    "Redactor",
    "RequestObserver",
    "basic_auth_header",
    "encode_params",
    "pool_size",
]

log = logging.getLogger(__name__)

# Idle pooled connections are closed after this many seconds: well below Asterisk's
# http.conf session_keep_alive (15 s), so a request never goes out on a connection the
# server is closing at that moment (a ServerDisconnectedError).
KEEPALIVE_S = 5.0


def pool_size(sessions: int, reserved: int) -> int:
    """The REST pool for an Asterisk that accepts ``sessions`` HTTP connections, leaving
    ``reserved`` for the event websocket and other clients (CLI, health probes)."""
    return max(1, sessions - reserved)


class RequestObserver(Protocol):
    """Told about every ARI request (metrics): ``outcome`` is the HTTP status as text, or
    ``unavailable`` when no answer came; ``retry`` when a try failed and is sent again."""

    def request_done(self, method: str, outcome: str, seconds: float) -> None: ...

    def request_retried(self, method: str) -> None: ...


class _NoObserver:
    def request_done(self, method: str, outcome: str, seconds: float) -> None:
        pass

    def request_retried(self, method: str) -> None:
        pass


def basic_auth_header(username: str, password: str) -> str:
    """The value of an HTTP Basic ``Authorization`` header."""
    if ":" in username:
        raise ValueError("ARI username must not contain ':'")
    token = base64.b64encode(f"{username}:{password}".encode()).decode("ascii")
    return f"Basic {token}"


def encode_params(params: Mapping[str, str | int | bool] | None) -> dict[str, str]:
    """Query parameters as ARI wants them: booleans as ``true``/``false``."""
    if not params:
        return {}
    out: dict[str, str] = {}
    for key, value in params.items():
        if isinstance(value, bool):
            out[key] = "true" if value else "false"
        else:
            out[key] = str(value)
    return out


class Redactor:
    """Removes secrets (password, Authorization value) from text that may be shown."""

    def __init__(self, *secrets: str) -> None:
        self._secrets = [s for s in secrets if s]

    def __call__(self, text: str) -> str:
        for secret in self._secrets:
            if secret in text:
                text = text.replace(secret, "***")
        return text


class AriClient:
    """Implements :class:`ivr.ari.protocol.AriRest` over an :class:`~ivr.ari.http1.Http1Pool`.

    Requests for different calls run concurrently over a pool of up to ``connection_limit``
    connections, so a slow answer for one channel never delays another call; the limit must
    stay below what Asterisk accepts (:func:`pool_size`): more requests wait for a free
    connection here (counted in :attr:`in_flight`). Idempotent requests
    (:func:`ivr.ari.retry.is_idempotent`) are retried on a dropped connection or a 5xx.
    """

    def __init__(
        self,
        base_url: str,
        username: str,
        password: str,
        *,
        request_timeout: float = 10.0,
        connection_limit: int = 96,
        retry: RetryPolicy | None = None,
        observer: RequestObserver | None = None,
    ) -> None:
        self._base_url = base_url.rstrip("/")
        self._auth = basic_auth_header(username, password)
        self._redact = Redactor(password, self._auth, self._auth.removeprefix("Basic "))
        self._timeout = request_timeout
        self._connection_limit = connection_limit
        self._retry = retry or RetryPolicy()
        self.observer: RequestObserver = observer or _NoObserver()
        self._session: Http1Pool | None = None
        self._closed = False
        self._in_flight = 0

    @property
    def in_flight(self) -> int:
        """Requests sent or waiting for a pooled connection, not answered yet."""
        return self._in_flight

    @property
    def connection_limit(self) -> int:
        return self._connection_limit

    @property
    def base_url(self) -> str:
        return self._base_url

    def _get_session(self) -> Http1Pool:
        if self._closed:
            raise AriError("AriClient is closed")
        if self._session is None:
            self._session = Http1Pool(
                self._base_url,
                headers={"Authorization": self._auth},
                limit=self._connection_limit,
                max_idle=KEEPALIVE_S,
            )
        return self._session

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: Params | None = None,
        json: Any = None,
    ) -> Any:
        if not path.startswith("/"):
            path = "/" + path
        query = encode_params(params)

        async def send() -> Any:
            return await self._send(method, path, query, json)

        return await sent_as_allowed(
            send,
            self._retry,
            method,
            path,
            on_retry=lambda _: self.observer.request_retried(method),
        )

    async def _send(self, method: str, path: str, query: dict[str, str], json: Any) -> Any:
        session = self._get_session()
        payload = None if json is None else jsonlib.dumps(json).encode()
        started = time.monotonic()
        self._in_flight += 1
        try:
            async with asyncio.timeout(self._timeout):
                status, body = await session.request(method, path, params=query, body=payload)
        except TimeoutError as exc:
            self.observer.request_done(method, "unavailable", time.monotonic() - started)
            raise AriTimedOut(f"ARI {method} {path}: timed out") from exc
        except TransportError as exc:
            self.observer.request_done(method, "unavailable", time.monotonic() - started)
            detail = self._redact(f"{type(exc).__name__}: {exc}")
            raise AriUnavailable(f"ARI {method} {path}: {detail}") from exc
        finally:
            self._in_flight -= 1
        elapsed = time.monotonic() - started
        self.observer.request_done(method, str(status), elapsed)
        log.debug("ARI %s %s -> %d (%.0f ms)", method, path, status, elapsed * 1000)
        if status >= 300:
            raise http_error(status, method, path, self._error_detail(body))
        if not body:
            return None
        try:
            return jsonlib.loads(body)
        except ValueError:
            return body.decode("utf-8", "replace")

    def _error_detail(self, body: bytes) -> str:
        return self._redact(short_detail(body.decode("utf-8", "replace")))

    async def close(self) -> None:
        self._closed = True
        if self._session is not None:
            session, self._session = self._session, None
            await session.close()

    async def __aenter__(self) -> AriClient:
        self._get_session()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()
