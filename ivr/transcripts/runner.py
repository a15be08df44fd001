"""The transcription runner: a child process at low CPU priority that holds the model.

``python -m ivr.transcripts.runner --model DIR [--threads N] [--compute-type T] [--nice N]``
lowers its own priority (``os.nice``, then the SCHED_IDLE class on Linux) before loading
anything, so the controller and Asterisk always win the CPU; then loads the model once and
answers JSON lines on stdin:

    -> {"path": "/abs/file.wav", "language": "fi" | null}
    <- {"ok": true, "text": ..., "language": ..., "detected": ..., "confidence": ...,
        "audio_seconds": ..., "processing_seconds": ...}
    <- {"ok": false, "error": "..."}            (this file; the runner goes on)

Its first line says whether the model loaded: ``{"ready": true, "engine": ...}`` or
``{"ready": false, "error": ...}`` (then it exits with status 3). Its log goes to stderr.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
from dataclasses import asdict
from pathlib import Path
from typing import Any, TextIO

from ivr.transcripts.model import ModelUnavailable, check, model_hash

EXIT_NO_MODEL = 3


def _say(out: TextIO, message: dict[str, Any]) -> None:
    out.write(json.dumps(message, ensure_ascii=False) + "\n")
    out.flush()


def _idle_class() -> None:
    """Linux SCHED_IDLE: the runner (and the threads it starts) gets CPU only when nothing
    else wants it; a nice value alone still takes a share from the calls on 2 cores."""
    if hasattr(os, "sched_setscheduler") and hasattr(os, "SCHED_IDLE"):
        with contextlib.suppress(OSError):  # not allowed here: the nice value stays
            os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="ivr.transcripts.runner")
    p.add_argument("--model", type=Path, required=True)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--compute-type", default="int8")
    p.add_argument("--nice", type=int, default=15)
    p.add_argument("--no-idle-class", dest="idle_class", action="store_false")
    args = p.parse_args(argv)
    out = sys.stdout
    if args.nice:
        os.nice(args.nice)
    if args.idle_class:
        _idle_class()
    try:
        check(args.model)
        from ivr.transcripts.engine import WhisperEngine

        engine = WhisperEngine(args.model, threads=args.threads, compute_type=args.compute_type)
        sha = model_hash(args.model)
    except (ModelUnavailable, OSError, RuntimeError, ValueError) as exc:
        _say(out, {"ready": False, "error": f"{type(exc).__name__}: {exc}"})
        return EXIT_NO_MODEL
    _say(out, {"ready": True, "engine": engine.name, "model_sha256": sha, "pid": os.getpid()})
    for line in sys.stdin:
        try:
            job = json.loads(line)
            result = engine.transcribe(Path(job["path"]), job.get("language"))
        except Exception as exc:  # one bad file must not end the runner
            _say(out, {"ok": False, "error": f"{type(exc).__name__}: {exc}"})
            continue
        _say(out, {"ok": True, **asdict(result)})
    return 0


if __name__ == "__main__":
    sys.exit(main())
