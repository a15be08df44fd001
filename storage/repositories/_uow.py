"""Units of work and the translation of database exceptions into :mod:`storage.errors`.

Every repository method is one short transaction opened here and closed before it returns:
no session outlives a method, so none is ever held across an ARI await.
"""

from __future__ import annotations

import asyncio
import re
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
    """The storage error for an exception raised while talking to the database.

    The message never carries row contents or parameter values (personal data): no
    Postgres ``DETAIL``, no quoted values from the server's message, no driver or SQLAlchemy
    text (which lists the statement's parameters). The constraint and SQLSTATE stay."""
    if isinstance(exc, StorageError):
        return exc
    pg = _postgres_error(exc)
    if pg is not None:
        state = str(getattr(pg, "sqlstate", "") or "")
        constraint = getattr(pg, "constraint_name", None)
        message = safe_message(pg)
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
        # Socket and timeout errors name an address at most, never a row.
        return StorageUnavailable(f"database unreachable: {type(exc).__name__}: {exc}")
    if isinstance(exc, asyncpg.InterfaceError | asyncpg.exceptions.ConnectionDoesNotExistError):
        # asyncpg's client-side errors quote the offending argument: the class only.
        return StorageUnavailable(f"database connection lost: {type(exc).__name__}")
    if isinstance(exc, DBAPIError):
        # No Postgres error code: the driver lost or could not make the connection.
        return StorageUnavailable(f"database unreachable: {_driver_error(exc)}")
    return StorageError(_driver_error(exc))


# What a server error names (kept when quoted in its message).
_NAMED = ("table_name", "column_name", "constraint_name", "schema_name", "data_type_name")
# A quoted literal in a server message: "…" (identifiers, but also input values) or '…'.
_QUOTED = re.compile(r'"(?:[^"]|"")*"|\'(?:[^\']|\'\')*\'')


def safe_message(pg: asyncpg.PostgresError) -> str:
    """Postgres's primary message with its SQLSTATE, minus anything that can quote data.

    ``DETAIL`` (the failing row, the duplicate key) is left out; quoted words are kept only
    when they are the table, column, constraint, schema or type the server named."""
    names = {str(v) for v in (getattr(pg, a, None) for a in _NAMED) if v}

    def keep_names(m: re.Match[str]) -> str:
        return m.group(0) if m.group(0)[1:-1] in names else "…"

    text = _QUOTED.sub(keep_names, str(getattr(pg, "message", "") or type(pg).__name__))
    state = getattr(pg, "sqlstate", None)
    return f"{text} [SQLSTATE {state}]" if state else text


def _driver_error(exc: BaseException) -> str:
    """A driver / SQLAlchemy error by class only: their text lists the SQL parameters."""
    orig = getattr(exc, "orig", None)
    if orig is not None and orig is not exc:
        return f"{type(exc).__name__} ({type(orig).__name__})"
    return type(exc).__name__


@asynccontextmanager
async def transaction(sessions: async_sessionmaker[AsyncSession]) -> AsyncIterator[AsyncSession]:
    """A session in a transaction, committed on success; database errors come out as
    :class:`storage.errors.StorageError` (the original is only the suppressed
    ``__context__``: its text carries the row and the parameters)."""
    try:
        async with sessions.begin() as session:
            yield session
    except StorageError:
        raise
    except (SQLAlchemyError, OSError, TimeoutError, asyncpg.PostgresError) as exc:
        raise translate(exc) from None  # a traceback must not print the row or parameters
    except asyncpg.InterfaceError as exc:
        raise translate(exc) from None


def timestamptz(value: datetime) -> ColumnElement[datetime]:
    """A bound time typed ``timestamptz`` on the server too (asyncpg otherwise infers
    ``timestamp`` for ``$1 - interval`` and refuses an aware datetime)."""
    return cast(literal(value, DateTime(timezone=True)), DateTime(timezone=True))
