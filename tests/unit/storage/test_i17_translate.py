"""Issue 17 item 2: errors raised before Postgres answers (driver, SQLAlchemy) lose their text.

asyncpg quotes the argument it could not encode and SQLAlchemy appends "[parameters: …]":
both are the caller's data.
"""

from __future__ import annotations

from asyncpg.exceptions._base import DataError as ClientDataError
from sqlalchemy.exc import DBAPIError, StatementError

from storage.repositories._uow import translate

NUMBER = "+358401234567"
PARAMS = {"caller_number": NUMBER, "caller_name": "Maija Meikäläinen"}


def test_i17_asyncpg_client_error_is_named_by_class_only() -> None:
    exc = ClientDataError(f"invalid input for query argument $1: {NUMBER!r}")
    error = translate(exc)
    assert "401234567" in str(exc) and "401234567" not in str(error)
    assert "DataError" in str(error)


def test_i17_sqlalchemy_errors_drop_their_parameters() -> None:
    orig = ClientDataError(f"invalid input for query argument $1: {NUMBER!r}")
    for exc in (
        DBAPIError("INSERT INTO cases VALUES (:caller_number)", PARAMS, orig),
        StatementError("bad value", "INSERT INTO cases VALUES (:caller_number)", PARAMS, orig),
    ):
        assert "401234567" in str(exc)  # what SQLAlchemy itself would print
        text = str(translate(exc))
        assert "401234567" not in text and "Meikäläinen" not in text
        assert type(exc).__name__ in text
