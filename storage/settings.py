"""What storage needs to know of the service's settings, as protocols.

:class:`ivr.config.Settings` satisfies all three; storage never imports it (the layers above
pass their settings in). Secrets are read through ``require(name)`` so a missing one fails
with the settings' own message.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, Protocol, Self

__all__ = ["DatabaseSettings", "ScratchSettings", "SpoolSettings"]


class DatabaseSettings(Protocol):
    """Where the database is and who logs in (``require`` gives a named secret)."""

    @property
    def db_host(self) -> str: ...

    @property
    def pg_port(self) -> int: ...

    @property
    def db_name(self) -> str: ...

    @property
    def db_app_user(self) -> str: ...

    @property
    def db_owner(self) -> str: ...

    @property
    def db_superuser(self) -> str: ...

    def require(self, name: str) -> str: ...


class ScratchSettings(DatabaseSettings, Protocol):
    """Database settings that can be copied onto another database (``db_name``)."""

    def model_copy(
        self, *, update: Mapping[str, Any] | None = None, deep: bool = False
    ) -> Self: ...


class SpoolSettings(Protocol):
    """Where events wait while Postgres is unreachable, and how much of them."""

    @property
    def state_dir(self) -> Path: ...

    @property
    def spool_max_bytes(self) -> int: ...
