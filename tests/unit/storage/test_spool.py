from __future__ import annotations

from pathlib import Path

import pytest

from storage.errors import SpoolError
from storage.spool import Spool


def lines(n: int, start: int = 0) -> list[bytes]:
    return [f'{{"n":{i}}}\n'.encode() for i in range(start, start + n)]


def test_append_rotate_read_remove(tmp_path: Path) -> None:
    spool = Spool(tmp_path, 10_000)
    spool.open()
    assert spool.empty
    assert spool.append(lines(3)) == 3
    assert spool.closed_segments() == []  # still the active one
    spool.rotate()
    assert spool.append(lines(2, 3)) == 2
    spool.rotate()
    segs = spool.closed_segments()
    assert len(segs) == 2
    assert [line for s in segs for line in spool.read(s)] == lines(5)
    for s in segs:
        spool.remove(s)
    assert spool.empty and spool.size == 0
    spool.close()


def test_size_is_bounded_and_what_does_not_fit_is_returned(tmp_path: Path) -> None:
    spool = Spool(tmp_path, 30)
    spool.open()
    batch = lines(5)  # 8 bytes each
    assert spool.append(batch) == 3
    assert spool.size == 24
    assert spool.append(batch[3:]) == 0
    spool.close()


def test_reopen_accounts_for_leftovers_and_continues_numbering(tmp_path: Path) -> None:
    spool = Spool(tmp_path, 10_000)
    spool.open()
    spool.append(lines(4))
    spool.close()
    again = Spool(tmp_path, 10_000)
    again.open()
    assert again.size == 32 and len(again.closed_segments()) == 1
    again.append(lines(1))
    assert len(again.segments()) == 2
    again.close()


def test_torn_last_line_is_skipped(tmp_path: Path) -> None:
    (tmp_path / "seg-000000000001.jsonl").write_bytes(b'{"n":0}\n{"n":1}\n{"n":')
    spool = Spool(tmp_path, 10_000)
    spool.open()
    (seg,) = spool.closed_segments()
    assert list(spool.read(seg)) == lines(2)
    spool.close()


def test_one_process_at_a_time(tmp_path: Path) -> None:
    first = Spool(tmp_path, 10_000)
    first.open()
    with pytest.raises(SpoolError, match="in use"):
        Spool(tmp_path, 10_000).open()
    first.close()
    second = Spool(tmp_path, 10_000)
    second.open()
    second.close()


def test_rejects_are_kept_apart(tmp_path: Path) -> None:
    spool = Spool(tmp_path, 10_000)
    spool.open()
    spool.reject(lines(2))
    assert (tmp_path / "rejected.jsonl").read_bytes() == b"".join(lines(2))
    assert spool.empty and spool.segments() == []
    spool.close()
