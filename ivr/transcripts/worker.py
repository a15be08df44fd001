"""The transcription worker: claims a job, transcribes it in the runner, redacts, stores.

One job at a time per worker (``LINJA_TRANSCRIPT_WORKERS``, default 1), in a child process
at low CPU priority (:mod:`ivr.transcripts.runner`) that keeps the model loaded between
jobs. Calls never wait on it: the controller only exchanges a JSON line with the runner.

With the model missing or unreadable the worker logs **one** error naming the directory and
the reason, parks the queued jobs as ``waiting`` and looks again every poll (cheaply: a
``stat``; a model that fails to load is tried again only when its file changes or after
``retry_load`` seconds). Once the model is usable the waiting jobs are queued again and a
line says so. Recordings and calls are not touched either way.

The text is redacted (:func:`ivr.transcripts.redactor.redact`) before it leaves this
module: the raw transcript is never stored, logged or kept.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import sys
import time
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

from ivr.transcripts.model import ModelUnavailable, check
from ivr.transcripts.redactor import redact
from storage.errors import StorageError
from storage.repositories.transcripts import ClaimedJob, NewTranscript, TranscriptionJobs

log = logging.getLogger(__name__)

READY_TIMEOUT = 120.0


class RunnerFailed(Exception):
    """The runner could not transcribe this file (the job may be tried again)."""


@dataclass(frozen=True, slots=True)
class RunnerResult:
    text: str
    language: str
    detected: bool
    confidence: float
    audio_seconds: float
    processing_seconds: float
    engine: str
    model_sha256: str


class Transcriber(Protocol):
    async def transcribe(self, path: Path, language: str | None) -> RunnerResult: ...

    async def close(self) -> None: ...


@dataclass(frozen=True)
class RunnerConfig:
    model_dir: Path
    threads: int = 2
    compute_type: str = "int8"
    nice: int = 15
    idle_class: bool = True
    python: str = sys.executable


class RunnerProcess:
    """The runner child process, started on first use and again after it died."""

    def __init__(self, config: RunnerConfig) -> None:
        self._config = config
        self._proc: asyncio.subprocess.Process | None = None
        self._ready: dict[str, Any] = {}
        self._lock = asyncio.Lock()

    async def _start(self) -> asyncio.subprocess.Process:
        c = self._config
        proc = await asyncio.create_subprocess_exec(
            c.python,
            "-m",
            "ivr.transcripts.runner",
            "--model",
            str(c.model_dir),
            "--threads",
            str(c.threads),
            "--compute-type",
            c.compute_type,
            "--nice",
            str(c.nice),
            *(() if c.idle_class else ("--no-idle-class",)),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=None,  # the runner's own warnings go where the controller's stderr goes
            env={**os.environ, "OMP_NUM_THREADS": str(c.threads)},
            limit=16 * 1024 * 1024,
        )
        assert proc.stdout is not None
        try:
            line = await asyncio.wait_for(proc.stdout.readline(), READY_TIMEOUT)
            hello = json.loads(line) if line else {"ready": False, "error": "runner exited"}
        except (TimeoutError, ValueError) as exc:
            proc.kill()
            await proc.wait()
            raise ModelUnavailable(f"the runner did not start: {exc!r}") from None
        if not hello.get("ready"):
            await proc.wait()
            raise ModelUnavailable(str(hello.get("error", "the model did not load")))
        self._ready = hello
        log.info(
            "[transcripts] runner pid %s ready: %s, model %s (nice %d)",
            proc.pid,
            hello.get("engine"),
            str(hello.get("model_sha256", ""))[:12],
            c.nice,
        )
        return proc

    async def transcribe(self, path: Path, language: str | None) -> RunnerResult:
        async with self._lock:
            if self._proc is None or self._proc.returncode is not None:
                self._proc = await self._start()
            proc = self._proc
            assert proc.stdin is not None and proc.stdout is not None
            request = json.dumps({"path": str(path), "language": language}) + "\n"
            try:
                proc.stdin.write(request.encode())
                await proc.stdin.drain()
                line = await proc.stdout.readline()
            except (BrokenPipeError, ConnectionResetError):
                line = b""
            if not line:
                self._proc = None
                raise RunnerFailed("the runner died")
            answer = json.loads(line)
            if not answer.get("ok"):
                raise RunnerFailed(str(answer.get("error", "unknown error")))
            return RunnerResult(
                text=str(answer["text"]),
                language=str(answer["language"]),
                detected=bool(answer["detected"]),
                confidence=float(answer["confidence"]),
                audio_seconds=float(answer["audio_seconds"]),
                processing_seconds=float(answer["processing_seconds"]),
                engine=str(self._ready.get("engine", "faster-whisper")),
                model_sha256=str(self._ready.get("model_sha256", "")),
            )

    def peak_rss_kib(self) -> int | None:
        """The runner's peak resident memory (Linux VmHWM), while it runs."""
        if self._proc is None or self._proc.returncode is not None:
            return None
        try:
            status = Path(f"/proc/{self._proc.pid}/status").read_text()
        except OSError:
            return None
        for line in status.splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
        return None

    async def close(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None or proc.returncode is not None:
            return
        assert proc.stdin is not None
        proc.stdin.close()
        try:
            await asyncio.wait_for(proc.wait(), 5)
        except TimeoutError:
            proc.kill()
            await proc.wait()


class Slot(Protocol):
    """A cluster-wide slot (:class:`storage.advisory.TryLock`): held while a job runs."""

    def hold(self) -> AbstractAsyncContextManager[bool]: ...


LanguageOf = Callable[[str], str | None]  # tenant slug -> flow language (None: detect)
PathOf = Callable[[str], Path]  # store location -> file


class TranscriptWorker:
    def __init__(
        self,
        jobs: TranscriptionJobs,
        transcriber: Transcriber,
        *,
        model_dir: Path,
        path_of: PathOf,
        language_of: LanguageOf,
        clock: Callable[[], datetime],
        name: str = "transcripts",
        poll: float = 5.0,
        lease: float = 1800.0,
        max_attempts: int = 3,
        retry_load: float = 300.0,
        slot: Slot | None = None,
    ) -> None:
        self._jobs = jobs
        self._slot = slot
        self._slot_busy = False  # said once per change: another controller holds our slot
        self._transcriber = transcriber
        self._model_dir = model_dir
        self._path_of = path_of
        self._language_of = language_of
        self._clock = clock
        self._name = name
        self._poll = poll
        self._lease = timedelta(seconds=lease)
        self._max_attempts = max_attempts
        self._retry_load = retry_load
        self._problem: str | None = None  # why the model is unusable (None: it is usable)
        self._failed_load: tuple[tuple[float, int], float] | None = None

    @property
    def model_problem(self) -> str | None:
        return self._problem

    async def run(self) -> None:
        log.info("[transcripts] worker %s started (model %s)", self._name, self._model_dir)
        while True:
            try:
                busy = await self.step()
            except StorageError as exc:
                log.warning("[transcripts] database unavailable (%s); trying again", exc)
                busy = False
            if not busy:
                await asyncio.sleep(self._poll)

    async def step(self) -> bool:
        """At most one job; True when one was handled (look again at once). With no job
        queued or waiting nothing else is looked at (a controller whose tenants do not use
        transcripts never checks, nor complains about, the model)."""
        if not await self._jobs.pending(self._clock(), self._lease):
            return False
        problem = await asyncio.to_thread(self._model_state)
        if problem is not None:
            await self._unusable(problem, None)
            return False
        if self._problem is not None:
            self._problem = None
            woken = await self._jobs.wake()
            log.info("[transcripts] model usable again: %d waiting jobs queued", woken)
        elif await self._jobs.waiting():
            await self._jobs.wake()  # parked by another controller, or before a restart
        if self._slot is None:
            return await self._claim_and_handle()
        async with self._slot.hold() as held:
            if not held:
                if not self._slot_busy:
                    log.info(
                        "[transcripts] worker %s: another controller holds its slot; waiting",
                        self._name,
                    )
                self._slot_busy = True
                return False
            self._slot_busy = False
            return await self._claim_and_handle()

    async def _claim_and_handle(self) -> bool:
        job = await self._jobs.claim(self._name, self._clock(), self._lease)
        if job is None:
            return False
        await self._handle(job)
        return True

    async def _handle(self, job: ClaimedJob) -> None:
        if job.audio_gone:
            await self._jobs.cancel(job, "the audio was deleted", self._clock())
            log.info(
                "[case %s] %s %s deleted before transcription", job.case_id, job.kind, job.audio_id
            )
            return
        path = self._path_of(job.location)
        language = self._language_of(job.tenant_slug)
        try:
            result = await self._transcriber.transcribe(path, language)
        except ModelUnavailable as exc:
            self._failed_load = (await asyncio.to_thread(self._signature), time.monotonic())
            await self._unusable(str(exc), job)
            return
        except RunnerFailed as exc:
            state = await self._jobs.retry_or_fail(
                job, str(exc), self._clock(), max_attempts=self._max_attempts
            )
            log.warning(
                "[case %s] %s %s: transcription failed (attempt %d, now %s): %s",
                job.case_id,
                job.kind,
                job.audio_id,
                job.attempts,
                state,
                exc,
            )
            return
        redacted = redact(result.text)
        new = NewTranscript(
            language=result.language,
            language_detected=result.detected,
            engine=result.engine,
            model_sha256=result.model_sha256,
            confidence=result.confidence,
            audio_seconds=result.audio_seconds,
            processing_seconds=result.processing_seconds,
            text=redacted.text,
            redactions=redacted.counts(),
        )
        tid = await self._jobs.finish(job, new, self._clock())
        log.info(
            "[case %s] %s %s transcribed as %s: %.1f s of audio in %.1f s (%s%s), "
            "confidence %.2f, redacted %s",
            job.case_id,
            job.kind,
            job.audio_id,
            tid,
            result.audio_seconds,
            result.processing_seconds,
            result.language,
            ", detected" if result.detected else "",
            result.confidence,
            redacted.counts() or "nothing",
        )

    async def _unusable(self, problem: str, job: ClaimedJob | None) -> None:
        parked = await self._jobs.park(job, f"model unusable: {problem}")
        if self._problem is None:
            log.error(
                "[transcripts] speech model unusable, transcription jobs wait until it is "
                "fixed (%d parked; calls and recordings are not affected): %s",
                parked,
                problem,
            )
        self._problem = problem

    def _signature(self) -> tuple[float, int]:
        try:
            st = (self._model_dir / "model.bin").stat()
        except OSError:
            return (0.0, -1)
        return (st.st_mtime, st.st_size)

    def _model_state(self) -> str | None:
        """Why the model cannot be used now (None: try it)."""
        try:
            check(self._model_dir)
        except ModelUnavailable as exc:
            return str(exc)
        if self._failed_load is not None:
            signature, at = self._failed_load
            if signature == self._signature() and time.monotonic() - at < self._retry_load:
                return self._problem or "the model did not load"
            self._failed_load = None
        return None
