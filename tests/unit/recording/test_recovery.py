"""Recordings left behind by a dead controller: moved into the store and marked failed,
linked to their case; live, fresh, foreign and not-yet-known files are left alone."""

from __future__ import annotations

import os
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

from ivr.audio import pcm_to_wav
from recording.finalise import REPAIRED, Finaliser, recording_name
from recording.recovery import NOTHING_KEPT, REASON, OrphanRecovery
from recording.store import AudioKind, AudioStore
from storage.errors import NotFound
from storage.events import AudioStatus, CaseEvent, RecordingCompleted, VoiceMessageSaved
from tests.unit.recording.test_wavrepair import unclosed

T0 = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
TENANT = uuid.uuid4()


def _file(spool: Path, name: str, seconds: float, age: float) -> Path:
    path = spool / f"{name}.wav"
    path.write_bytes(pcm_to_wav(b"\x10\x00" * int(8000 * seconds)))
    old = time.time() - age
    os.utime(path, (old, old))
    return path


async def test_left_behind_files_get_a_failed_row_and_others_stay(tmp_path: Path) -> None:
    spool = tmp_path / "spool"
    spool.mkdir()
    store = AudioStore(tmp_path / "store")
    known, unknown = uuid.uuid4(), uuid.uuid4()
    rec_id, vm_id = uuid.uuid4(), uuid.uuid4()
    left = _file(spool, recording_name("rec", rec_id, known), 2.5, age=300)
    vm = _file(spool, recording_name("vm", vm_id, known), 1.0, age=300)
    fresh = _file(spool, recording_name("rec", uuid.uuid4(), known), 1.0, age=5)
    live_name = recording_name("rec", uuid.uuid4(), known)
    live = _file(spool, live_name, 1.0, age=300)  # paused: not written, but live
    waiting = _file(spool, recording_name("rec", uuid.uuid4(), unknown), 1.0, age=300)
    foreign = _file(spool, "someone-elses", 1.0, age=300)
    events: list[CaseEvent] = []

    class Sink:
        def emit(self, event: CaseEvent) -> None:
            events.append(event)

    async def tenant_of(case_id: uuid.UUID) -> uuid.UUID:
        if case_id != known:
            raise NotFound("case", case_id)
        return TENANT

    recovery = OrphanRecovery(
        Finaliser(store, spool), Sink(), tenant_of, lambda: T0, live=lambda: [live_name]
    )
    assert await recovery.run_once() == 2
    rec = next(e for e in events if isinstance(e, RecordingCompleted))
    msg = next(e for e in events if isinstance(e, VoiceMessageSaved))
    assert (rec.recording_id, rec.case_id, rec.status) == (rec_id, known, AudioStatus.FAILED)
    assert rec.failure_reason == REASON and rec.duration == timedelta(seconds=2.5)
    assert (msg.voice_message_id, msg.case_id, msg.failure_reason) == (vm_id, known, REASON)
    assert store.path(rec.location).stat().st_size == rec.size_bytes
    assert not left.exists() and not vm.exists()
    assert fresh.exists() and live.exists() and waiting.exists() and foreign.exists()
    assert await recovery.run_once() == 0  # nothing new: idempotent


async def test_files_asterisk_never_closed_are_repaired_or_if_empty_removed(
    tmp_path: Path,
) -> None:
    """Asterisk died mid-recording too: an unclosed file with audio is kept (header repaired);
    one with only its header holds nothing, gets a failed row without audio and is removed,
    so it is not retried forever."""
    spool = tmp_path / "spool"
    spool.mkdir()
    store = AudioStore(tmp_path / "store")
    case = uuid.uuid4()
    with_audio, empty = uuid.uuid4(), uuid.uuid4()
    old = time.time() - 300
    paths = []
    for rec_id, pcm in ((with_audio, b"\x10\x00" * 16000), (empty, b"")):
        path = spool / f"{recording_name('rec', rec_id, case)}.wav"
        path.write_bytes(unclosed(pcm))
        os.utime(path, (old, old))
        paths.append(path)
    events: list[CaseEvent] = []

    class Sink:
        def emit(self, event: CaseEvent) -> None:
            events.append(event)

    async def tenant_of(case_id: uuid.UUID) -> uuid.UUID:
        return TENANT

    recovery = OrphanRecovery(Finaliser(store, spool), Sink(), tenant_of, lambda: T0)
    assert await recovery.run_once() == 2
    rows = {e.recording_id: e for e in events if isinstance(e, RecordingCompleted)}
    kept, lost = rows[with_audio], rows[empty]
    assert kept.duration == timedelta(seconds=2) and kept.failure_reason == f"{REASON}; {REPAIRED}"
    assert store.path(kept.location).stat().st_size == kept.size_bytes == 44 + 32000
    assert lost.status is AudioStatus.FAILED and lost.size_bytes == 0
    assert lost.failure_reason is not None and lost.failure_reason.startswith(NOTHING_KEPT)
    assert not store.exists(lost.location)
    assert not any(p.exists() for p in paths)
    assert await recovery.run_once() == 0


async def test_a_file_whose_row_is_kept_already_is_only_removed(tmp_path: Path) -> None:
    """A voice message stored and its row kept, whose flow was stopped before it removed
    Asterisk's file: no second copy, no row marked failed over the kept one."""
    spool = tmp_path / "spool"
    spool.mkdir()
    store = AudioStore(tmp_path / "store")
    case, kept_id, other_id = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    kept = _file(spool, recording_name("vm", kept_id, case), 1.0, age=300)
    other = _file(spool, recording_name("vm", other_id, case), 1.0, age=300)
    events: list[CaseEvent] = []
    asked: list[tuple[AudioKind, uuid.UUID]] = []

    class Sink:
        def emit(self, event: CaseEvent) -> None:
            events.append(event)

    async def tenant_of(case_id: uuid.UUID) -> uuid.UUID:
        return TENANT

    async def has_row(kind: AudioKind, audio_id: uuid.UUID) -> bool:
        asked.append((kind, audio_id))
        return audio_id == kept_id

    recovery = OrphanRecovery(Finaliser(store, spool), Sink(), tenant_of, lambda: T0, kept=has_row)
    assert await recovery.run_once() == 1
    assert not kept.exists() and not other.exists()
    assert [e.voice_message_id for e in events if isinstance(e, VoiceMessageSaved)] == [other_id]
    assert sorted(asked, key=str) == sorted(
        [(AudioKind.VOICE_MESSAGE, kept_id), (AudioKind.VOICE_MESSAGE, other_id)], key=str
    )
    stored = [p.name for p in (tmp_path / "store").rglob("*.wav")]
    assert stored == [f"{other_id}.wav"]
