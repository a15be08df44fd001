"""Names of the database roles, for migrations that grant privileges."""

from __future__ import annotations

import os


def app_role() -> str:
    name = os.environ.get("LINJA_DB_APP_USER", "linja_app")
    if not name.replace("_", "").isalnum():
        raise ValueError(f"invalid role name {name!r}")
    return name
