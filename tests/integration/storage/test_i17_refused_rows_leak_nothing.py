"""Issue 17 item 2: a row the database refuses leaves no personal data behind.

Postgres explains a refused row with a ``DETAIL`` ("Failing row contains (… number, name,
e-mail …)"), and driver / SQLAlchemy error strings carry the statement's parameters. None of
that may reach an error message, a log line or the rejected spool: only the case id, the
constraint, the SQLSTATE and the error class do.
"""

from __future__ import annotations

import json
import logging
import re
import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from storage.casewriter import PgCaseWriter
from storage.domain import TenantInfo
from storage.errors import Conflict, ConstraintViolation
from storage.events import CaseEnded, CaseOpened, Channel, ContactRequested, Outcome, Role
from storage.passwords import Hasher
from storage.recorder import CaseRecorder
from storage.repositories._uow import translate
from storage.repositories.cases import CaseRepository
from storage.repositories.users import UserRepository
from storage.spool import Spool
from storage.timing import CaseState, apply
from tests.integration.storage.conftest import ADMIN

pytestmark = pytest.mark.integration

T0 = datetime(2026, 11, 22, 9, 0, tzinfo=UTC)
NUMBER = "+358401234567"
NAME = "Maija Meikäläinen"
EMAIL = "maija.meikalainen@example.fi"


def leaks(blob: str) -> list[str]:
    """The personal data found in ``blob``: the number in any spelling, the name, the e-mail."""
    found = []
    squeezed = re.sub(r"[\s().\-/]", "", blob)
    if "401234567" in squeezed:  # +358 40 123 4567, 040-123 4567, 358401234567 ...
        found.append("number")
    if NAME.lower() in blob.lower() or "Meikäläinen".lower() in blob.lower():
        found.append("name")
    if EMAIL.lower() in blob.lower() or "example.fi" in blob.lower():
        found.append("e-mail")
    return found


def spool_text(directory: Path) -> str:
    if not directory.exists():
        return ""
    return "\n".join(p.read_bytes().decode("utf-8", "replace") for p in sorted(directory.iterdir()))


def opened(tenant: TenantInfo) -> CaseState:
    return apply(
        None,
        CaseOpened(uuid.uuid4(), tenant.id, Channel.PHONE, T0, "0201234", NUMBER, NAME, EMAIL),
    )


async def test_i17_case_writer_reason_carries_no_failing_row(
    engine: AsyncEngine, tenant: TenantInfo, caplog: pytest.LogCaptureFixture
) -> None:
    # ends before it started: ck_cases_end_after_start, whose DETAIL is the whole case row
    bad = replace(opened(tenant), ended_at=T0 - timedelta(hours=1), outcome=Outcome.ANSWERED)
    with caplog.at_level(logging.DEBUG):
        (rejected,) = await PgCaseWriter(engine).write([bad])
    assert leaks(rejected.reason) == []
    assert leaks(caplog.text) == []
    assert rejected.state.case_id == bad.case_id
    assert "ck_cases_end_after_start" in rejected.reason
    assert "23514" in rejected.reason


async def test_i17_recorder_logs_and_rejected_spool_carry_no_personal_data(
    engine: AsyncEngine,
    sessions: async_sessionmaker[AsyncSession],
    tenant: TenantInfo,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    spool_dir = tmp_path / "spool"
    rec = CaseRecorder(PgCaseWriter(engine), Spool(spool_dir, 10**7), linger=0.001)
    good, bad = uuid.uuid4(), uuid.uuid4()
    with caplog.at_level(logging.DEBUG):
        await rec.start()
        rec.emit(CaseOpened(good, tenant.id, Channel.PHONE, T0, caller_number="+358409999999"))
        rec.emit(CaseOpened(bad, tenant.id, Channel.PHONE, T0, "0201234", NUMBER, NAME, EMAIL))
        # a request nobody can answer: ck_contact_requests_has_contact (DETAIL: the row,
        # with the caller's name)
        rec.emit(ContactRequested(bad, uuid.uuid4(), T0 + timedelta(seconds=5), name=NAME))
        rec.emit(CaseEnded(bad, Outcome.CALLBACK_REQUESTED, T0 + timedelta(seconds=9)))
        await rec.close()
    assert rec.stats().rejected == 1
    assert (await CaseRepository(sessions).get(good)).channel is Channel.PHONE

    assert leaks(spool_text(spool_dir)) == []
    assert leaks(caplog.text) == []
    rejected_file = spool_dir / "rejected.jsonl"
    (line,) = rejected_file.read_text().splitlines()
    kept = json.loads(line)
    assert kept["case_id"] == str(bad)
    assert kept["constraint"] == "ck_contact_requests_has_contact"
    assert kept["sqlstate"] == "23514"
    assert str(bad) in caplog.text and "ck_contact_requests_has_contact" in caplog.text


async def test_i17_repository_error_carries_no_failing_row(
    engine: AsyncEngine, sessions: async_sessionmaker[AsyncSession], tenant: TenantInfo
) -> None:
    state = opened(tenant)
    assert await PgCaseWriter(engine).write([replace(state, caller_number=None)]) == []
    async with engine.begin() as conn:  # erased, as the sweeper leaves it
        await conn.execute(
            text(
                "UPDATE cases SET caller_name = NULL, caller_email = NULL, caller_number = NULL,"
                " personal_data_erased_at = now() WHERE id = :id"
            ),
            {"id": state.case_id},
        )
    with pytest.raises(ConstraintViolation) as err:  # ck_cases_erased_is_blank
        await CaseRepository(sessions).rectify(
            state.case_id, ADMIN, caller_name=NAME, caller_email=EMAIL, caller_number=NUMBER
        )
    assert leaks(str(err.value)) == []
    assert leaks(repr(err.value)) == []
    assert err.value.constraint == "ck_cases_erased_is_blank"
    assert err.value.sqlstate == "23514"


async def test_i17_translated_sqlalchemy_error_drops_the_parameters(
    engine: AsyncEngine, tenant: TenantInfo
) -> None:
    # SQLAlchemy's own text says "[parameters: (… '+358401234567' …)]"
    with pytest.raises(IntegrityError) as raw:
        async with engine.begin() as conn:
            await conn.execute(
                text(
                    "INSERT INTO cases (id, tenant_id, channel, started_at, caller_name,"
                    " caller_email, caller_number, personal_data_erased_at)"
                    " VALUES (:id, :t, 'phone', now(), :n, :e, :p, now())"
                ),
                {"id": uuid.uuid4(), "t": tenant.id, "n": NAME, "e": EMAIL, "p": NUMBER},
            )
    assert leaks(str(raw.value))  # the raw error does carry them: the test can fail
    error = translate(raw.value)
    assert leaks(str(error)) == []
    assert isinstance(error, ConstraintViolation)
    assert error.constraint == "ck_cases_erased_is_blank"


async def test_i17_duplicate_key_error_does_not_quote_the_key(
    sessions: async_sessionmaker[AsyncSession], tenant: TenantInfo
) -> None:
    # DETAIL: Key (tenant_id, login)=(…, maija.meikalainen@example.fi) already exists.
    users = UserRepository(sessions, Hasher.fast_for_tests())

    async def create() -> None:
        await users.create(
            tenant_id=tenant.id, name=NAME, login=EMAIL, password="salasana", role=Role.TEAM,
            actor=ADMIN,
        )  # fmt: skip

    await create()
    with pytest.raises(Conflict) as err:
        await create()
    assert leaks(str(err.value)) == []
    assert err.value.sqlstate == "23505" and err.value.constraint


async def test_i17_bad_input_value_is_not_quoted(engine: AsyncEngine) -> None:
    # 22P02: invalid input syntax for type uuid: "+358401234567"
    with pytest.raises(DBAPIError) as raw:
        async with engine.connect() as conn:
            await conn.execute(text("SELECT CAST(CAST(:v AS text) AS uuid)"), {"v": NUMBER})
    error = translate(raw.value)
    assert leaks(str(error)) == []
    assert isinstance(error, ConstraintViolation) and error.sqlstate == "22P02"
    assert "invalid input syntax for type uuid" in str(error)
