"""Intake tokens: what a gateway (SMS, e-mail, chat, web form) sends to post to one tenant.

Each tenant's token is derived from the one generated ``intake_secret`` (``.run/secrets.json``)
with HMAC-SHA256, so a token opens one tenant's intake only and nothing per tenant is stored.
Rotating the secret rotates every token. Tokens travel in ``Authorization: Bearer ...``, never
in URLs, and are compared in constant time.
"""

from __future__ import annotations

import base64
import hashlib
import hmac

_CONTEXT = b"linja-intake-v1:"


def intake_token(secret: str, tenant: str) -> str:
    """The bearer token of ``tenant``'s intake webhooks."""
    mac = hmac.new(secret.encode(), _CONTEXT + tenant.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac).rstrip(b"=").decode()


def token_matches(secret: str, tenant: str, presented: str) -> bool:
    """Constant-time check of a presented token against ``tenant``'s."""
    return hmac.compare_digest(intake_token(secret, tenant).encode(), presented.encode())
