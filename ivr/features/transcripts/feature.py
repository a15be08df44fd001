"""Transcripts of recordings and voice messages, with personal data removed (issue 18).

The worker (``LINJA_TRANSCRIPT_WORKERS``, default one job at a time, across every controller
on the database: worker n holds advisory-lock slot n while it transcribes) claims the jobs the
database queues for tenants with transcripts switched on, transcribes in a low-priority
runner process, redacts and stores; the API lists transcripts and shows one (a listening
event). Language: the tenant's flow definition, else detected.
"""

from __future__ import annotations

from pathlib import Path

from ivr.core import Core, Feature
from ivr.heartbeat.identity import controller_id
from ivr.http.transcripts import add_routes
from ivr.transcripts.worker import RunnerConfig, RunnerProcess, TranscriptWorker
from storage.advisory import TryLock, key
from storage.repositories.media import ListeningLog
from storage.repositories.transcripts import TranscriptionJobs, TranscriptRepository

TRANSCRIBE_LOCK = b"linja-tr"  # advisory-lock name of the transcription slots


async def wire(core: Core) -> Feature:
    s = core.settings
    jobs = TranscriptionJobs(core.sessions)
    transcripts = TranscriptRepository(core.sessions)

    def language_of(slug: str) -> str | None:
        """The flow file's transcript language ("auto": detect), else its language; a
        tenant without a flow file: detect."""
        flows = core.definitions.get(slug)
        if flows is None:
            return None
        chosen = flows.recording.transcript_language or flows.language
        return None if chosen == "auto" else chosen

    def path_of(location: str) -> Path:
        return core.audio.path(location)

    runners: list[RunnerProcess] = []
    tasks = []
    for n in range(s.transcript_workers):
        runner = RunnerProcess(
            RunnerConfig(
                s.transcript_model,
                threads=s.transcript_threads,
                compute_type=s.transcript_compute_type,
                nice=s.transcript_nice,
                idle_class=s.transcript_idle_class,
            )
        )
        runners.append(runner)
        worker = TranscriptWorker(
            jobs,
            runner,
            model_dir=s.transcript_model,
            path_of=path_of,
            language_of=language_of,
            clock=core.clock,
            # controller_id, not host and HTTP port: nodes on one machine share the port
            name=f"{controller_id()}:{n}",
            poll=s.transcript_poll_interval,
            lease=s.transcript_lease,
            max_attempts=s.transcript_max_attempts,
            # Slot n is one job at a time across every controller on the database.
            slot=TryLock(core.engine, key(TRANSCRIBE_LOCK, n)),
        )
        tasks.append((f"transcripts-{n}", worker.run))
    core.services.offer(transcripts)
    return Feature(
        "transcripts",
        routes=(lambda app: add_routes(app, transcripts, ListeningLog(core.sessions), core.guard),),
        tasks=tuple(tasks),
        closers=tuple(r.close for r in runners),
    )
