"""Issue 14: the case list's query (every bad parameter named at once, times with offsets,
the keyset cursor) and what each role sees of a case (personal data only for admin and team
users of the tenant; never of a restricted or erased case)."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone

import pytest
from multidict import MultiDict

from ivr.http.cases import (
    MAX_LIMIT,
    case_json,
    decode_cursor,
    encode_cursor,
    parse_list_query,
)
from ivr.http.problems import BadInput
from ivr.http.query import parse_time
from storage.domain import CaseView, QueueEntryView, UserInfo
from storage.events import Channel, Outcome, QueueExit, Role
from storage.repositories.cases import CaseCursor, CaseListed

TENANT = uuid.UUID(int=1)
OTHER = uuid.UUID(int=2)
T0 = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)


def user(role: Role, tenant: uuid.UUID | None = TENANT) -> UserInfo:
    return UserInfo(
        id=uuid.uuid4(),
        tenant_id=tenant,
        name="Test User",
        login=f"u-{role.value}",
        email=None,
        role=role,
        phone_number=None,
        phone_login=None,
        has_phone_pin=False,
        created_at=T0,
        disabled_at=None,
    )


CASE = CaseView(
    id=uuid.UUID(int=9),
    tenant_id=TENANT,
    service_number="200",
    channel=Channel.PHONE,
    caller_name="Matti Meikäläinen",
    caller_email=None,
    caller_number="0401234567",
    started_at=T0,
    service_started_at=None,
    agent_id=None,
    ended_at=T0 + timedelta(seconds=9),
    outcome=Outcome.OVERFLOWED,
    delay_before_service=None,
    queue_wait=timedelta(0),
    service_time=None,
    total_time=timedelta(seconds=9),
    restricted_at=None,
    personal_data_erased_at=None,
    queue_entries=(QueueEntryView(0, "sales", T0, T0, QueueExit.OVERFLOWED.value, timedelta(0)),),
)


def test_every_bad_parameter_is_named_at_once() -> None:
    query = {
        "from": "yesterday",
        "to": "2026-12-01T10:00:00",  # no offset
        "outcome": "lost",
        "channel": "fax",
        "limit": str(MAX_LIMIT + 1),
        "after": "not-a-cursor",
        "queue": "x" * 65,
        "colour": "blue",
    }
    with pytest.raises(BadInput) as err:
        parse_list_query(MultiDict(query), TENANT)
    assert err.value.status == 400
    assert set(err.value.errors or {}) == {
        "from",
        "to",
        "outcome",
        "channel",
        "limit",
        "after",
        "queue",
        "colour",
    }
    assert "offset" in (err.value.errors or {})["to"]


def test_a_parameter_given_twice_is_refused_by_name() -> None:
    # ?queue=a&queue=b: a search for both, or for one of them, would be a guess.
    with pytest.raises(BadInput) as err:
        parse_list_query(MultiDict([("queue", "a"), ("queue", "b"), ("limit", "5")]), TENANT)
    assert err.value.errors == {"queue": "given more than once"}


def test_to_must_come_after_from() -> None:
    with pytest.raises(BadInput) as err:
        parse_list_query(
            MultiDict({"from": "2026-12-01T10:00Z", "to": "2026-12-01T09:00Z"}), TENANT
        )
    assert err.value.errors == {"to": "must be after from"}


@pytest.mark.parametrize(
    "text", ["2026-12-01T12:00:00+02:00", "2026-12-01T12:00:00 02:00", "2026-12-01T10:00Z"]
)
def test_times_with_an_offset_also_when_the_plus_arrived_as_a_space(text: str) -> None:
    assert parse_time(text) == T0


def test_a_good_query_is_the_search() -> None:
    q = parse_list_query(
        MultiDict(
            {
                "from": "2026-12-01T12:00+02:00",
                "queue": "sales",
                "agent": "agent1",
                "outcome": "abandoned",
                "channel": "phone",
                "service_number": "200",
                "limit": "5",
            }
        ),
        TENANT,
    )
    s = q.search
    assert (s.tenant_id, s.since, s.until) == (TENANT, T0, None)
    assert (s.queue, s.agent_login, s.outcome, s.channel, s.service_number) == (
        "sales",
        "agent1",
        Outcome.ABANDONED,
        Channel.PHONE,
        "200",
    )
    assert q.limit == 5 and q.after is None and "after" not in q.params


def test_the_cursor_goes_round_and_garbage_is_refused() -> None:
    cursor = CaseCursor(
        datetime(2026, 12, 1, 12, 0, 0, 123456, tzinfo=timezone(timedelta(hours=2))), uuid.uuid4()
    )
    assert decode_cursor(encode_cursor(cursor)) == cursor
    assert parse_list_query(MultiDict({"after": encode_cursor(cursor)}), TENANT).after == cursor
    for garbage in ("", "!!!", encode_cursor(cursor)[:-4], "MjAyNnxub3Q"):
        with pytest.raises(ValueError):
            decode_cursor(garbage)


@pytest.mark.parametrize(
    ("who", "sees"),
    [
        (user(Role.ADMIN), True),
        (user(Role.TEAM), True),
        (user(Role.EXTERNAL), False),
        (user(Role.OPERATOR, None), False),
        (user(Role.ADMIN, OTHER), False),
    ],
)
def test_personal_data_only_for_admin_and_team_of_the_tenant(who: UserInfo, sees: bool) -> None:
    doc = case_json(CaseListed(CASE, None, restricted=False), who)
    assert doc["id"] == str(CASE.id) and doc["outcome"] == "overflowed"
    assert (doc["queue"], doc["queue_exit"], doc["queue_wait"]) == ("sales", "overflowed", 0.0)
    expected = {"number": "0401234567", "name": "Matti Meikäläinen", "email": None}
    assert doc["caller"] == (expected if sees else None)
    assert "0401234567" not in str(doc) or sees


def test_restricted_and_erased_cases_are_blanked_even_for_admins() -> None:
    admin = user(Role.ADMIN)
    restricted = case_json(CaseListed(CASE, None, restricted=True), admin)
    assert restricted["caller"] is None and restricted["restricted"] is True
    assert "0401234567" not in str(restricted)
    erased = replace(
        CASE, caller_name=None, caller_number=None, personal_data_erased_at=T0 + timedelta(days=1)
    )
    doc = case_json(CaseListed(erased, None, restricted=False), admin)
    assert doc["caller"] is None and doc["erased"] is True
