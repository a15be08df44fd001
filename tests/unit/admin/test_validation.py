"""The one validation module of the management plane: every bad field named at once."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ivr.admin import validation as v
from storage.events import Role

GOOD_TENANT = {
    "slug": "acme",
    "name": "Acme Oy",
    "language": "sv",
    "time_zone": "Europe/Stockholm",
    "recording_retention": "90d",
    "voice_message_retention": "2m",
    "case_retention": "1y",
}
GOOD_USER = {"login": "anna", "name": "Anna", "role": "team", "tenant": "acme",
             "password": "long-enough-pw", "email": "anna@example.fi",
             "phone_number": "040 123 4567"}  # fmt: skip


def test_a_good_tenant_is_clean_values() -> None:
    values = v.validate_tenant_create(GOOD_TENANT)
    assert values["recording_retention"] == timedelta(days=90)
    assert values["case_retention"] == timedelta(days=365)
    assert v.tenant_columns(values)["voicemail_retention"] == timedelta(days=60)


def test_every_bad_tenant_field_is_named_at_once() -> None:
    with pytest.raises(v.Invalid) as e:
        v.validate_tenant_create(
            {"slug": "Acme!", "name": " ", "language": "de", "time_zone": "Mars/Base",
             "recording_retention": "40m", "case_retention": 30, "colour": "red"}
        )  # fmt: skip
    assert set(e.value.errors) == {
        "slug", "name", "language", "time_zone", "recording_retention", "case_retention",
        "colour",
    }  # fmt: skip
    assert e.value.errors["colour"] == "unknown field"


def test_required_fields_are_named() -> None:
    with pytest.raises(v.Invalid) as e:
        v.validate_tenant_create({})
    assert e.value.errors == {"slug": "required", "name": "required"}


def test_the_slug_is_not_changed_and_an_empty_change_is_refused() -> None:
    with pytest.raises(v.Invalid) as e:
        v.validate_tenant_update({"slug": "new", "name": "N"})
    assert set(e.value.errors) == {"slug"}
    with pytest.raises(v.Invalid) as e:
        v.validate_tenant_update({})
    assert e.value.errors == {"body": "nothing to change"}


def test_a_good_user() -> None:
    values = v.validate_user_create(GOOD_USER)
    assert values["role"] is Role.TEAM and values["phone_number"] == "0401234567"


@pytest.mark.parametrize(
    ("changes", "field"),
    [({"role": "operator"}, "tenant"), ({"tenant": None}, "tenant"),
     ({"password": "short"}, "password"), ({"password": " padded-password "}, "password"),
     ({"login": "Anna"}, "login"), ({"email": "no-at"}, "email"), ({"role": "boss"}, "role"),
     ({"phone_number": "12"}, "phone_number"), ({"name": "a\x00b"}, "name")],
)  # fmt: skip
def test_bad_user_fields(changes: dict[str, Any], field: str) -> None:
    with pytest.raises(v.Invalid) as e:
        v.validate_user_create(GOOD_USER | changes)
    assert set(e.value.errors) == {field}


def test_an_operator_has_no_tenant() -> None:
    values = v.validate_user_create(GOOD_USER | {"role": "operator", "tenant": None})
    assert values["role"] is Role.OPERATOR


def test_phone_login_needs_a_pin_and_clearing_takes_none() -> None:
    assert v.validate_phone_login({"phone_login": "5501", "pin": "1234"}) == ("5501", "1234")
    assert v.validate_phone_login({"phone_login": None}) == (None, None)
    for body, field in (({"phone_login": "5501"}, "pin"), ({"phone_login": None, "pin": "1234"},
                        "pin"), ({"phone_login": "x", "pin": "12"}, None)):  # fmt: skip
        with pytest.raises(v.Invalid) as e:
            v.validate_phone_login(body)
        if field:
            assert set(e.value.errors) == {field}
        else:
            assert set(e.value.errors) == {"phone_login", "pin"}


def test_a_number() -> None:
    values = v.validate_number({"number": "+3589123", "tenant": "acme", "service": "taxi"})
    assert values["service"] == "taxi"
    with pytest.raises(v.Invalid) as e:
        v.validate_number({"number": "12a", "service": "fax", "tenant": ""})
    assert set(e.value.errors) == {"number", "service", "tenant"}


# -- generated malformed input ------------------------------------------------------------

JSON = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=24),
    st.sampled_from(["", " ", "90d", "0d", "37m", "Europe/Nowhere", "operator", "fi", "a@b",
                     "\x00", "../etc", "9" * 40]),
    st.lists(st.integers(), max_size=2), st.dictionaries(st.text(max_size=4), st.integers(),
                                                         max_size=2),
)  # fmt: skip

SCHEMAS = {
    "tenant create": (v.validate_tenant_create, GOOD_TENANT),
    "tenant update": (v.validate_tenant_update, {k: GOOD_TENANT[k] for k in GOOD_TENANT
                                                 if k != "slug"}),
    "number": (v.validate_number, {"number": "300", "tenant": "acme", "service": "taxi"}),
    "user create": (v.validate_user_create, GOOD_USER),
    "user update": (v.validate_user_update, {"name": "A", "email": "a@b.c", "role": "admin"}),
    "password": (v.validate_password, {"password": "long-enough-pw"}),
    "phone login": (v.validate_phone_login, {"phone_login": "5501", "pin": "1234"}),
}  # fmt: skip


SCHEMAS_REQUIRED = {
    "tenant create": {"slug": True, "name": True},
    "tenant update": {},
    "number": {"number": True, "tenant": True, "service": True},
    "user create": {"login": True, "name": True, "role": True, "password": True},
    "user update": {},
    "password": {"password": True},
    "phone login": {"phone_login": True},
}
CROSS = {"role", "tenant", "phone_login", "pin"}


@st.composite
def spoiled(draw: st.DrawFn) -> tuple[str, dict[str, object], set[str]]:
    """A good body of some schema with 1..3 fields spoiled (a bad value, removed when
    required, or an unknown field added); the fields that must be named."""
    name = draw(st.sampled_from(sorted(SCHEMAS)))
    _, good = SCHEMAS[name]
    body: dict[str, object] = dict(good)
    must: set[str] = set()
    for _ in range(draw(st.integers(1, 3))):
        how = draw(st.sampled_from(("value", "unknown", "drop")))
        if how == "unknown":
            key = "x_" + draw(st.text(max_size=10))
            body[key] = draw(JSON)
            must.add(key[: v.FIELD_NAME_MAX])
            continue
        key = draw(st.sampled_from(sorted(good)))
        if how == "drop":
            body.pop(key, None)
            must.discard(key)
            if SCHEMAS_REQUIRED[name].get(key):
                must.add(key)
            continue
        body[key] = draw(JSON)
        if _acceptable(name, key, body[key]):
            must.discard(key)
        else:
            must.add(key)
    return name, body, must


def _acceptable(schema: str, key: str, value: object) -> bool:
    """Whether ``value`` would pass as field ``key`` alone (then it spoils nothing)."""
    func, good = SCHEMAS[schema]
    try:
        func(dict(good) | {key: value})
    except v.Invalid:
        return False
    return True


@settings(max_examples=2500, deadline=None)
@given(spoiled())
def test_generated_malformed_bodies_name_their_bad_fields(
    case: tuple[str, dict[str, object], set[str]],
) -> None:
    name, body, must = case
    func, _ = SCHEMAS[name]
    try:
        func(body)
    except v.Invalid as exc:
        assert exc.errors and all(isinstance(m, str) and m for m in exc.errors.values())
        missing = must - set(exc.errors)
        # a value bad only together with another field is named by the check of both
        assert missing <= CROSS, (body, exc.errors)
    else:
        # only removed optional fields, or a pair that is valid together, leave a valid body
        assert must <= CROSS, body


def test_ten_thousand_seeded_malformed_bodies_across_every_schema() -> None:
    """The same property as above at volume, drawn by a seeded generator (hypothesis costs
    a few ms per example here): 10,000 bodies, each with at least one bad field."""
    import random

    rng = random.Random(13)
    junk: list[object] = [
        None, True, 0, -1, 2**70, 1.5, "", " ", "x" * 500, "\x00", "90", "3x",
        "Europe/Nowhere", "ADMIN", [], {}, ["90d"], {"a": 1}, "../../etc",
    ]  # fmt: skip
    for n in range(10_000):
        name = rng.choice(sorted(SCHEMAS))
        func, good = SCHEMAS[name]
        body: dict[str, object] = dict(good)
        key = rng.choice([*sorted(good), f"unknown{n % 7}"])
        body[key] = rng.choice(junk)
        if _acceptable(name, key, body[key]) and key in good:
            continue
        with pytest.raises(v.Invalid) as e:
            func(body)
        assert key in e.value.errors or (key in CROSS and set(e.value.errors) & CROSS), body
