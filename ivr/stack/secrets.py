"""Generate the stack's passwords once and keep them in <state_dir>/secrets.json (0600)."""

from __future__ import annotations

import secrets as _secrets

from pydantic import SecretStr

from ivr.config import Settings, read_secrets, write_secrets

NAMES = (
    "ari_password",
    "ami_password",
    "db_owner_password",
    "db_app_password",
    "db_superuser_password",
    "intake_secret",
)


def ensure(settings: Settings) -> Settings:
    """Create missing secrets; returns settings reloaded with them."""
    stored = read_secrets(settings.state_dir)
    changed = False
    for name in NAMES:
        if name not in stored:
            stored[name] = _secrets.token_urlsafe(24)
            changed = True
    if changed:
        write_secrets(settings.state_dir, stored)
    for name in NAMES:
        if getattr(settings, name) is None:
            setattr(settings, name, SecretStr(stored[name]))
    return settings
