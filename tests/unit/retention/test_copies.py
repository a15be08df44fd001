"""Issue 17 item 2 (copies): which converted copies and export bundles the owners delete."""

from __future__ import annotations

import json
import os
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

from recording.convert import drop_copies, prune_cache
from retention.bundles import ExportBundles
from retention.copies import Copies
from retention.sweeper import SweepReport
from storage.contacts import Subject

TENANT = uuid.uuid4()


def touch(path: Path, age: float = 0.0, data: bytes = b"x") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    then = time.time() - age
    os.utime(path, (then, then))
    return path


def bundle(
    root: Path,
    name: str,
    *,
    number: str | None = None,
    email: str | None = None,
    tenant: uuid.UUID = TENANT,
    audio: tuple[uuid.UUID, ...] = (),
    age: float = 0,
) -> Path:
    b = root / f"subject-t-{name}"
    document = {
        "tenant": {"id": str(tenant)},
        "subject": {"phone_number": number, "email": email},
        "audio_files": [{"kind": "recording", "id": str(a)} for a in audio],
    }
    touch(b / "subject.json", age, json.dumps(document).encode())
    os.utime(b, (time.time() - age, time.time() - age))
    return b


def test_drop_copies_removes_every_copy_of_the_audio_and_nothing_else(tmp_path: Path) -> None:
    gone, kept = uuid.uuid4(), uuid.uuid4()
    doomed = [
        touch(tmp_path / f"{gone}-{'a' * 64}.mp3"),
        touch(tmp_path / f"{gone}-{'b' * 64}.ogg"),
        touch(tmp_path / f".{gone}-{'a' * 64}.ogg.{uuid.uuid4().hex}.tmp"),  # being written
    ]
    other = touch(tmp_path / f"{kept}-{'a' * 64}.mp3")
    assert drop_copies(tmp_path, [gone]) == 3
    assert [p.exists() for p in doomed] == [False, False, False] and other.exists()
    assert drop_copies(tmp_path / "missing", [gone]) == 0


def test_prune_cache_removes_only_old_files_and_leaves_directories(tmp_path: Path) -> None:
    old, new = touch(tmp_path / "old.mp3", age=700), touch(tmp_path / "new.mp3", age=10)
    (tmp_path / "converted").mkdir()
    os.utime(tmp_path / "converted", (time.time() - 9999, time.time() - 9999))
    assert prune_cache(tmp_path, ttl=600, now=time.time()) == 1
    assert (old.exists(), new.exists(), (tmp_path / "converted").is_dir()) == (False, True, True)


def test_bundles_expire_after_the_ttl(tmp_path: Path) -> None:
    bundles = ExportBundles(tmp_path, timedelta(hours=24))
    old = bundle(tmp_path, "old", number="+358401", age=25 * 3600)
    fresh = bundle(tmp_path, "fresh", number="+358401", age=23 * 3600)
    not_a_bundle = touch(tmp_path / "notes.txt", age=99 * 3600)
    written = datetime.fromtimestamp((fresh / "subject.json").stat().st_mtime, UTC)
    assert bundles.expires_at(fresh) == written + timedelta(hours=24)
    assert bundles.expire(time.time()) == 1
    assert (old.exists(), fresh.exists(), not_a_bundle.exists()) == (False, True, True)


def test_an_erasure_takes_the_bundles_about_the_person(tmp_path: Path) -> None:
    bundles = ExportBundles(tmp_path, timedelta(hours=24))
    erased_audio = uuid.uuid4()
    subject = Subject.of(number="0401234567")
    by_number = bundle(tmp_path, "n", number=subject.number)
    by_audio = bundle(tmp_path, "a", email="toinen@example.com", audio=(erased_audio,))
    someone_else = bundle(tmp_path, "o", number="+358409999999", audio=(uuid.uuid4(),))
    other_tenant = bundle(tmp_path, "t", number=subject.number, tenant=uuid.uuid4())
    half_written = tmp_path / "subject-t-h"
    half_written.mkdir()
    assert bundles.drop_subject(TENANT, subject, [erased_audio]) == 2
    assert [b.exists() for b in (by_number, by_audio, someone_else, other_tenant)] == [
        False, False, True, True,
    ]  # fmt: skip
    assert half_written.exists()  # no document yet: it expires with the TTL
    by_email = bundle(tmp_path, "e", email="matti@example.com")
    assert bundles.drop_subject(TENANT, Subject.of(email="Matti@Example.com"), []) == 1
    assert not by_email.exists()


def test_copies_in_the_state_dir_and_the_sweep_summary(tmp_path: Path) -> None:
    copies = Copies.in_state(tmp_path, 3600)
    assert copies.converted == tmp_path / "listen-cache" / "converted"
    assert copies.bundles.root == tmp_path / "exports"
    touch(copies.converted / f"{uuid.uuid4()}-{'a' * 64}.mp3", age=601)
    touch(copies.workdir / "tmpleftover", age=601)
    bundle(copies.bundles.root, "x", number="+358401", age=3601)
    expired = copies.expire(time.time())
    assert (expired.converted, expired.bundles) == (2, 1)
    report = SweepReport(datetime.now(UTC), copies_removed=2, exports_removed=1)
    assert "2 converted copies removed; 1 export bundles removed" in report.summary()
    assert "converted copies" not in SweepReport(datetime.now(UTC)).summary()
