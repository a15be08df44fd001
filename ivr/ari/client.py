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
from typing import Any

from ivr.ari.errors import AriError, AriUnavailable, http_error
from ivr.ari.http1 import Http1Pool, TransportError
from ivr.ari.protocol import Params

__all__ = ["AriClient", "Redactor", "basic_auth_header", "encode_params"]

log = logging.getLogger(__name__)

_MAX_DETAIL = 200


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
    connections, so a slow answer for one channel never delays another call.
    """

    def __init__(
        self,
        base_url: str,
        username: str,
        password: str,
        *,
        request_timeout: float = 10.0,
        connection_limit: int = 256,
    ) -> None:
        self._base_url = base_url.rstrip("/")
        self._auth = basic_auth_header(username, password)
        self._redact = Redactor(password, self._auth, self._auth.removeprefix("Basic "))
        self._timeout = request_timeout
        self._connection_limit = connection_limit
        self._session: Http1Pool | None = None
        self._closed = False

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
        session = self._get_session()
        payload = None if json is None else jsonlib.dumps(json).encode()
        started = time.monotonic()
        try:
            async with asyncio.timeout(self._timeout):
                status, body = await session.request(
                    method, path, params=encode_params(params), body=payload
                )
        except TimeoutError as exc:
            raise AriUnavailable(f"ARI {method} {path}: timed out") from exc
        except TransportError as exc:
            detail = self._redact(f"{type(exc).__name__}: {exc}")
            raise AriUnavailable(f"ARI {method} {path}: {detail}") from exc
        elapsed_ms = (time.monotonic() - started) * 1000
        log.debug("ARI %s %s -> %d (%.0f ms)", method, path, status, elapsed_ms)
        if status >= 300:
            raise http_error(status, method, path, self._error_detail(body))
        if not body:
            return None
        try:
            return jsonlib.loads(body)
        except ValueError:
            return body.decode("utf-8", "replace")

    def _error_detail(self, body: bytes) -> str:
        if not body:
            return ""
        text = body.decode("utf-8", "replace")
        try:
            decoded = jsonlib.loads(text)
        except ValueError:
            decoded = None
        if isinstance(decoded, dict) and isinstance(decoded.get("message"), str):
            text = decoded["message"]
        text = " ".join(text.split())[:_MAX_DETAIL]
        return self._redact(text)

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
