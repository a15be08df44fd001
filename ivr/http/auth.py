"""Reading credentials out of an ``Authorization`` header, refusing anything malformed.

Credentials travel only in that header (never in URLs). aiohttp hands header values over as
text decoded from UTF-8 with ``surrogateescape``: a raw ``\\xff`` byte arrives as ``'\\udcff'``
and UTF-8 letters arrive as themselves, so nothing here may assume ASCII. Every function
answers None for a header it cannot use (absent, empty, another scheme, not base64, no colon,
not UTF-8, non-ASCII token, longer than :data:`MAX_HEADER`) and never raises. Values longer
than aiohttp's own header limit (8190 bytes) never reach us: aiohttp answers 400 itself.
"""

from __future__ import annotations

import base64
import binascii

MAX_HEADER = 4096
BASIC_CHALLENGE = 'Basic realm="linja"'
BEARER_CHALLENGE = 'Bearer realm="linja-intake"'


def _scheme(header: str | None, scheme: str) -> str | None:
    """The credentials after ``scheme`` (case-insensitive), stripped; None if not that."""
    if not header or len(header) > MAX_HEADER:
        return None
    given, _, rest = header.strip().partition(" ")
    if given.lower() != scheme:
        return None
    rest = rest.strip()
    return rest if rest and rest.isascii() and rest.isprintable() else None


def basic_credentials(header: str | None) -> tuple[str, str] | None:
    """(login, password) of an ``Authorization: Basic`` value (UTF-8 user-pass)."""
    encoded = _scheme(header, "basic")
    if encoded is None:
        return None
    try:
        raw = base64.b64decode(encoded, validate=True).decode("utf-8")
    except (binascii.Error, ValueError):  # UnicodeDecodeError is a ValueError
        return None
    login, colon, password = raw.partition(":")
    if not colon or not login or not password or not raw.isprintable():
        return None
    return login, password


def bearer_token(header: str | None) -> str | None:
    """The token of an ``Authorization: Bearer`` value (printable ASCII only)."""
    return _scheme(header, "bearer")
