"""Deltas between wallboard documents: applying the diff of a and b to a gives b."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from ivr.wallboard.deltas import apply, diff

leaf = st.one_of(st.none(), st.integers(), st.text(max_size=3), st.lists(st.integers(), max_size=3))
docs = st.recursive(leaf, lambda inner: st.dictionaries(st.text(max_size=2), inner, max_size=4),
                    max_leaves=12)  # fmt: skip


@given(st.dictionaries(st.text(max_size=2), docs, max_size=4),
       st.dictionaries(st.text(max_size=2), docs, max_size=4))  # fmt: skip
def test_apply_of_the_diff_gives_the_new_document(a: dict[str, Any], b: dict[str, Any]) -> None:
    assert apply(diff(a, b), a) == b


def test_a_change_deep_inside_is_sent_at_most_three_levels_down() -> None:
    a = {"queues": {"sales": {"today": {"offered": 1, "answered": 0}, "threshold": 20}}}
    b = {"queues": {"sales": {"today": {"offered": 2, "answered": 0}, "threshold": 20}}}
    assert diff(a, b) == [
        {"path": ["queues", "sales", "today"], "value": {"offered": 2, "answered": 0}}
    ]
    assert diff(a, a) == []


def test_a_removed_key_is_removed() -> None:
    assert diff({"agents": {"a": 1, "b": 2}}, {"agents": {"a": 1}}) == [
        {"path": ["agents", "b"], "remove": True}
    ]
