"""Issue 17 item 2: an unreadable spool line is noted in rejected.jsonl, never copied there.

The line is a case snapshot (the caller's number, name, e-mail); the note keeps the segment,
the size, the error class and the case id when one can be read.
"""

from __future__ import annotations

import json
import logging
import uuid
from pathlib import Path

import pytest

from tests.unit.storage.test_recorder import FakeWriter, make

NUMBER = "+358401234567"
NAME = "Maija Meikäläinen"


async def test_i17_unreadable_spool_lines_are_noted_without_their_contents(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    cid = uuid.uuid4()
    lines = [
        json.dumps({"v": 99, "case_id": str(cid), "caller_number": NUMBER, "caller_name": NAME}),
        json.dumps(f"{NUMBER} {NAME}"),  # not even an object: BadLine quotes it
    ]
    (tmp_path / "seg-000000000001.jsonl").write_text("".join(f"{x}\n" for x in lines))
    writer = FakeWriter()
    rec = make(tmp_path, writer)
    with caplog.at_level(logging.DEBUG):
        await rec.start()
        await rec.close()
    assert rec.stats().rejected == 2
    assert not (tmp_path / "seg-000000000001.jsonl").exists()
    text = (tmp_path / "rejected.jsonl").read_text()
    for blob in (text, caplog.text):
        assert "401234567" not in blob.replace(" ", "")
        assert "Meikäläinen" not in blob
    first, second = (json.loads(x) for x in text.splitlines())
    assert first["case_id"] == str(cid) and second["case_id"] is None
    assert {first["error"], second["error"]} == {"BadLine"}
    assert first["segment"] == "seg-000000000001.jsonl"
    assert first["bytes"] == len(lines[0]) + 1
