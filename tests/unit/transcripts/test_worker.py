"""The transcription worker against fakes (issue 18): a missing model parks the jobs with
one error and no claim; a usable model queues them again; the stored text is redacted; a
runner failure retries; deleted audio is skipped."""

from __future__ import annotations

import logging
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from ivr.transcripts.model import ModelUnavailable
from ivr.transcripts.worker import RunnerFailed, RunnerResult, TranscriptWorker
from storage.repositories.transcripts import ClaimedJob, NewTranscript

NOW = datetime(2026, 12, 1, 12, tzinfo=UTC)


def job(**kw: object) -> ClaimedJob:
    values: dict[str, object] = {
        "id": uuid.uuid4(), "tenant_id": uuid.uuid4(), "tenant_slug": "demo",
        "case_id": uuid.uuid4(), "kind": "recording", "audio_id": uuid.uuid4(),
        "location": "t/recordings/2026/12/x.wav", "audio_gone": False, "attempts": 1,
    }  # fmt: skip
    values.update(kw)
    return ClaimedJob(**values)  # type: ignore[arg-type]


@dataclass
class FakeJobs:
    queued: list[ClaimedJob] = field(default_factory=list)
    parked: list[ClaimedJob] = field(default_factory=list)
    done: list[tuple[ClaimedJob, NewTranscript]] = field(default_factory=list)
    retried: list[str] = field(default_factory=list)
    cancelled: list[ClaimedJob] = field(default_factory=list)
    claims: int = 0

    async def pending(self, now: datetime, lease: timedelta) -> int:
        return len(self.queued) + len(self.parked)

    async def claim(self, worker: str, now: datetime, lease: timedelta) -> ClaimedJob | None:
        self.claims += 1
        return self.queued.pop(0) if self.queued else None

    async def park(self, job: ClaimedJob | None, reason: str) -> int:
        moved = self.queued + ([job] if job is not None else [])
        self.parked += moved
        self.queued = []
        return len(moved)

    async def wake(self) -> int:
        n = len(self.parked)
        self.queued, self.parked = self.queued + self.parked, []
        return n

    async def waiting(self) -> int:
        return len(self.parked)

    async def finish(self, job: ClaimedJob, new: NewTranscript, now: datetime) -> uuid.UUID:
        self.done.append((job, new))
        return uuid.uuid4()

    async def retry_or_fail(
        self, job: ClaimedJob, error: str, now: datetime, *, max_attempts: int
    ) -> str:
        self.retried.append(error)
        return "queued"

    async def cancel(self, job: ClaimedJob, reason: str, now: datetime) -> None:
        self.cancelled.append(job)


@dataclass
class FakeRunner:
    text: str = "my number is 040 123 4567 thanks"
    error: Exception | None = None
    asked: list[tuple[Path, str | None]] = field(default_factory=list)

    async def transcribe(self, path: Path, language: str | None) -> RunnerResult:
        self.asked.append((path, language))
        if self.error is not None:
            raise self.error
        return RunnerResult(self.text, language or "en", language is None, 0.8, 3.0, 0.5,
                            "fake-engine", "a" * 64)  # fmt: skip

    async def close(self) -> None:
        pass


def make_model(path: Path) -> Path:
    path.mkdir()
    for name in ("model.bin", "config.json", "tokenizer.json"):
        (path / name).write_text("x")
    return path


@dataclass
class FakeSlot:
    """The cluster-wide slot (an advisory lock): free or held by another controller."""

    free: bool = True
    held_during: list[bool] = field(default_factory=list)

    @asynccontextmanager
    async def hold(self) -> AsyncIterator[bool]:
        self.held_during.append(self.free)
        yield self.free


def worker(
    jobs: FakeJobs, runner: FakeRunner, model: Path, slot: FakeSlot | None = None
) -> TranscriptWorker:
    w = TranscriptWorker(
        jobs,  # type: ignore[arg-type]
        runner,
        model_dir=model,
        path_of=lambda loc: Path("/store") / loc,
        language_of={"demo": "fi"}.get,
        clock=lambda: NOW,
        slot=slot,
    )
    return w


def fake_jobs(*queued: ClaimedJob) -> FakeJobs:
    return FakeJobs(queued=list(queued))


async def test_a_missing_model_parks_the_jobs_with_one_error_and_no_claim(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    jobs = fake_jobs(job(), job())
    runner = FakeRunner()
    w = worker(jobs, runner, tmp_path / "nowhere")
    with caplog.at_level(logging.INFO):
        for _ in range(4):
            assert await w.step() is False
    assert jobs.claims == 0 and runner.asked == []
    assert len(jobs.parked) == 2
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1 and "nowhere" in errors[0] and "does not exist" in errors[0]
    # The model arrives: the jobs are queued again and transcribed, with a line saying so.
    make_model(tmp_path / "nowhere")
    with caplog.at_level(logging.INFO):
        assert await w.step() is True
        assert await w.step() is True
    assert len(jobs.done) == 2
    assert any("usable again: 2 waiting" in r.getMessage() for r in caplog.records)


async def test_a_model_that_does_not_load_parks_the_job(tmp_path: Path) -> None:
    jobs = fake_jobs(job())
    w = worker(
        jobs, FakeRunner(error=ModelUnavailable("bad model.bin")), make_model(tmp_path / "m")
    )
    assert await w.step() is True
    assert w.model_problem == "bad model.bin"
    assert len(jobs.parked) == 1
    # not tried again until the file changes (or the retry time passes)
    assert await w.step() is False


async def test_the_stored_text_is_redacted_and_the_language_comes_from_the_flow(
    tmp_path: Path,
) -> None:
    jobs = fake_jobs(job(tenant_slug="demo"), job(tenant_slug="no-flows"))
    runner = FakeRunner()
    w = worker(jobs, runner, make_model(tmp_path / "m"))
    await w.step()
    await w.step()
    (_, first), (_, second) = jobs.done
    assert first.text == "my number is [PHONE] thanks" and first.redactions == {"PHONE": 1}
    assert "123" not in first.text
    assert [lang for _, lang in runner.asked] == ["fi", None]  # no flow file: detect
    assert (first.language_detected, second.language_detected) == (False, True)
    assert runner.asked[0][0] == Path("/store/t/recordings/2026/12/x.wav")


async def test_a_runner_failure_retries_and_deleted_audio_is_skipped(tmp_path: Path) -> None:
    gone = job(audio_gone=True)
    jobs = fake_jobs(gone, job())
    runner = FakeRunner(error=RunnerFailed("bad file"))
    w = worker(jobs, runner, make_model(tmp_path / "m"))
    await w.step()
    await w.step()
    assert jobs.cancelled == [gone]
    assert jobs.retried == ["bad file"] and jobs.done == []
    assert len(runner.asked) == 1


async def test_a_slot_held_by_another_controller_refuses_the_job(tmp_path: Path) -> None:
    """Issue 19: one transcription at a time across nodes. While another controller holds
    the slot nothing is claimed; once it is free, the job is done, with the slot held."""
    jobs = fake_jobs(job(tenant_slug="demo"))
    runner = FakeRunner()
    slot = FakeSlot(free=False)
    w = worker(jobs, runner, make_model(tmp_path / "m"), slot)
    assert await w.step() is False
    assert (jobs.claims, runner.asked, jobs.done) == (0, [], [])
    slot.free = True
    assert await w.step() is True
    assert jobs.claims == 1 and len(jobs.done) == 1 and slot.held_during == [False, True]
