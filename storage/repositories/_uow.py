"""Units of work and the translation of database exceptions into :mod:`storage.errors`.

Every repository method is one short transaction opened here and closed before it returns:
no session outlives a method, so none is ever held across an ARI await.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime

import asyncpg
from sqlalchemy import ColumnElement, DateTime, cast, literal
from sqlalchemy.exc import DBAPIError, SQLAlchemyError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from storage.errors import (
    Conflict,
    ConstraintViolation,
    Forbidden,
    Refused,
    StorageError,
    StorageUnavailable,
)

# SQLSTATE classes meaning "the server is not (or no longer) there for us".
_UNAVAILABLE_CLASSES = ("08", "53", "57", "58")


def _postgres_error(exc: BaseException) -> asyncpg.PostgresError | None:
    seen: set[int] = set()
    todo: list[BaseException | None] = [exc]
    while todo:
        e = todo.pop()
        if e is None or id(e) in seen:
            continue
        seen.add(id(e))
        if isinstance(e, asyncpg.PostgresError):
            return e
        todo.extend([getattr(e, "orig", None), e.__cause__, e.__context__])
    return None


def translate(exc: BaseException) -> StorageError:
    """The storage error for an exception raised while talking to the database."""
    if isinstance(exc, StorageError):
        return exc
    pg = _postgres_error(exc)
    if pg is not None:
        state = str(getattr(pg, "sqlstate", "") or "")
        message = str(getattr(pg, "message", "") or pg)
        detail = getattr(pg, "detail", None)
        if detail:
            message = f"{message} ({detail})"
        constraint = getattr(pg, "constraint_name", None)
        if state == "23505":
            return Conflict(message, constraint=constraint, sqlstate=state)
        if state.startswith(("23", "22")):
            return ConstraintViolation(message, constraint=constraint, sqlstate=state)
        if state == "42501":
            return Forbidden(message, sqlstate=state)
        if state.startswith(_UNAVAILABLE_CLASSES):
            return StorageUnavailable(f"database unavailable: {message}")
        return Refused(message, sqlstate=state or None)
    if isinstance(exc, OSError | TimeoutError | asyncio.TimeoutError | PoolTimeout):
        return StorageUnavailable(f"database unreachable: {type(exc).__name__}: {exc}")
    if isinstance(exc, asyncpg.InterfaceError | asyncpg.exceptions.ConnectionDoesNotExistError):
        return StorageUnavailable(f"database connection lost: {exc}")
    if isinstance(exc, DBAPIError):
        # No Postgres error code: the driver lost or could not make the connection.
        return StorageUnavailable(f"database unreachable: {type(exc.orig).__name__}: {exc.orig}")
    if isinstance(exc, SQLAlchemyError):
        return StorageError(f"{type(exc).__name__}: {exc}")
    return StorageError(f"{type(exc).__name__}: {exc}")


@asynccontextmanager
async def transaction(sessions: async_sessionmaker[AsyncSession]) -> AsyncIterator[AsyncSession]:
    """A session in a transaction, committed on success; database errors come out as
    :class:`storage.errors.StorageError`."""
    try:
        async with sessions.begin() as session:
            yield session
    except StorageError:
        raise
    except (SQLAlchemyError, OSError, TimeoutError, asyncpg.PostgresError) as exc:
        raise translate(exc) from exc
    except asyncpg.InterfaceError as exc:
        raise translate(exc) from exc


def timestamptz(value: datetime) -> ColumnElement[datetime]:
    """A bound time typed ``timestamptz`` on the server too (asyncpg otherwise infers
    ``timestamp`` for ``$1 - interval`` and refuses an aware datetime)."""
    return cast(literal(value, DateTime(timezone=True)), DateTime(timezone=True))
