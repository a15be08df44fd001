"""Errors the storage layer raises to its callers (domain errors, no SQLAlchemy types).

Exception tree::

    Exception
    └── StorageError                 anything the storage layer could not do
        ├── StorageUnavailable       Postgres unreachable, connection lost, timed out
        ├── NotFound                 the row addressed does not exist (.what .key)
        ├── Refused                  Postgres refused the data or the operation
        │   ├── ConstraintViolation  a CHECK / NOT NULL / foreign key / bad value (.constraint)
        │   │   └── Conflict         a unique constraint: the thing already exists
        │   ├── NumberInUse          a service number with history is kept, not deleted
        │   └── Forbidden            the role may not do this (privilege or append-only trigger)
        └── SpoolError               the local spool could not be written or read

Repositories convert SQLAlchemy / asyncpg exceptions into these at the boundary
(:func:`storage.repositories._uow.translate`), so callers (flows, HTTP handlers, CLI) never
import SQLAlchemy. Messages name the constraint and SQLSTATE Postgres reported and never carry
passwords, row contents or parameter values (no ``DETAIL``, no driver text: personal data).
"""

from __future__ import annotations

__all__ = [
    "Conflict",
    "ConstraintViolation",
    "Forbidden",
    "NotFound",
    "NumberInUse",
    "Refused",
    "SpoolError",
    "StorageError",
    "StorageUnavailable",
]


class StorageError(Exception):
    """Base class of every storage failure."""


class StorageUnavailable(StorageError):
    """The database could not be reached (refused, reset, shutting down, timed out)."""


class NotFound(StorageError):
    def __init__(self, what: str, key: object) -> None:
        super().__init__(f"{what} {key} not found")
        self.what = what
        self.key = key


class Refused(StorageError):
    """Postgres refused the statement; ``sqlstate`` is its five-character error code."""

    def __init__(self, message: str, *, sqlstate: str | None = None) -> None:
        super().__init__(message)
        self.sqlstate = sqlstate


class ConstraintViolation(Refused):
    """Bad data: ``constraint`` names the database constraint that rejected it (if any)."""

    def __init__(
        self, message: str, *, constraint: str | None = None, sqlstate: str | None = None
    ) -> None:
        super().__init__(message, sqlstate=sqlstate)
        self.constraint = constraint


class Conflict(ConstraintViolation):
    """A unique constraint: the row already exists."""


class NumberInUse(Refused):
    """A service number with history (bulletins, hourly call counters) is kept: deleting it
    would break their foreign keys. The message is safe to show (no personal data)."""

    def __init__(self, number: str, bulletins: int, counters: int) -> None:
        super().__init__(
            f"service number {number} has history ({bulletins} bulletin(s), {counters} hourly "
            "call counter(s)) and is kept; route it elsewhere in the dialplan instead"
        )
        self.number = number


class Forbidden(Refused):
    """Not allowed for this role, or the table is append-only."""


class SpoolError(StorageError):
    """The local spool failed (disk full, permissions, corrupt file)."""
