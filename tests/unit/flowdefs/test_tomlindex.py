"""Line numbers of TOML keys: tables, dotted keys, arrays, inline tables, strings."""

from __future__ import annotations

from ivr.flowdefs.tomlindex import Duplicate, index_keys

TEXT = '''\
title = "x = 1"                 # 1
[a]                             # 2
b.c = 1                         # 3
"d e" = """                     # 4
f = 2
"""                             # 6
list = [                        # 7
  1,                            # 8
  { g = 3, h = [4] },           # 9
]
inline = { i = 1, j.k = 2 }     # 11
['a'."q"]                       # 12
r = 'it''s'                     # 13
'''


def test_lines_of_every_written_key() -> None:
    index = index_keys(TEXT)
    assert index.lines == {
        ("title",): 1,
        ("a",): 2,
        ("a", "b", "c"): 3,
        ("a", "d e"): 4,
        ("a", "list"): 7,
        ("a", "list", 0): 8,
        ("a", "list", 1): 9,
        ("a", "list", 1, "g"): 9,
        ("a", "list", 1, "h"): 9,
        ("a", "list", 1, "h", 0): 9,
        ("a", "inline"): 11,
        ("a", "inline", "i"): 11,
        ("a", "inline", "j", "k"): 11,
        ("a", "q"): 12,
        ("a", "q", "r"): 13,
    }
    assert index.duplicates == []
    assert index.line_of(("a", "b", "c", "zzz")) == 3
    assert index.line_of(("nothing",)) == 1


def test_duplicates_with_both_key_spellings() -> None:
    index = index_keys("[m.options]\n\"1\" = 1\n1 = 2\n'1' = 3\n[m.options]\nx = 1\n")
    assert index.duplicates == [
        Duplicate(("m", "options", "1"), 3, 2, table=False),
        Duplicate(("m", "options", "1"), 4, 2, table=False),
        Duplicate(("m", "options"), 5, 1, table=True),
    ]


def test_stops_quietly_at_what_it_does_not_understand() -> None:
    index = index_keys('a = 1\nb = "open\nc = 3\n')
    assert index.lines == {("a",): 1, ("b",): 2}
