"""The faster-whisper adapter: one loaded model, audio file in, plain text out.

Loaded only inside the runner process (:mod:`ivr.transcripts.runner`), never in the
controller: CTranslate2 takes all the CPU it is given. Decoding is greedy at temperature 0
with voice-activity detection (silence costs nothing and is not hallucinated over), without
conditioning on the previous window, a window that loops decoded again warmer (sampled,
from a fixed seed per file: the same audio and model give the same transcript whatever was
transcribed before), and without the no-speech and log-probability filters, which drop
Whisper *base*'s low-confidence Finnish whole.

Language: the flow's language when given; otherwise detected, among the languages Linja
speaks (fi, sv, en) only: on 8 kHz audio an open detection drifts to unrelated languages.
Confidence: the duration-weighted mean of the segments' token probability
(exp(avg_logprob)), 0..1.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path
from typing import Any

LANGUAGES = ("fi", "sv", "en")
# A window whose text repeats itself ("katsotaan, katsotaan, ...": gzip ratio above 2.4) is
# decoded again at a higher temperature, at most twice.
FALLBACK_TEMPERATURES = (0.0, 0.4, 0.8)
LOOP_RATIO = 2.4
SAMPLING_SEED = 20261203
SAMPLE_RATE = 16000


@dataclass(frozen=True, slots=True)
class EngineResult:
    text: str
    language: str
    detected: bool
    confidence: float
    audio_seconds: float
    processing_seconds: float


class WhisperEngine:
    def __init__(self, model_dir: Path, *, threads: int = 2, compute_type: str = "int8") -> None:
        self._dir, self._threads, self._compute_type = model_dir, threads, compute_type
        self._model: Any = self._load()
        self.name = f"faster-whisper {version('faster-whisper')} ({compute_type})"

    def _load(self) -> Any:
        """The model, with a sampler seeded afresh: CTranslate2 seeds a thread's generator
        once, at its first draw, from the seed set then; a new model brings a new thread."""
        import ctranslate2
        from faster_whisper import WhisperModel  # heavy: imported where it is used

        ctranslate2.set_random_seed(SAMPLING_SEED)
        return WhisperModel(
            str(self._dir),
            device="cpu",
            compute_type=self._compute_type,
            cpu_threads=self._threads,
        )

    def transcribe(self, path: Path, language: str | None) -> EngineResult:
        from faster_whisper.audio import decode_audio

        started = time.perf_counter()
        audio = decode_audio(str(path), sampling_rate=SAMPLE_RATE)
        seconds = len(audio) / SAMPLE_RATE
        detected = language is None
        if language is None:
            language = self._detect(audio)
        segments, _info = self._model.transcribe(
            audio,
            language=language,
            beam_size=1,
            temperature=FALLBACK_TEMPERATURES,
            compression_ratio_threshold=LOOP_RATIO,
            vad_filter=True,
            condition_on_previous_text=False,
            no_speech_threshold=None,
            log_prob_threshold=None,
        )
        texts: list[str] = []
        weighted = total = 0.0
        sampled = False
        for seg in segments:
            sampled = sampled or (seg.temperature or 0.0) > 0
            texts.append(seg.text.strip())
            span = max(0.01, seg.end - seg.start)
            weighted += math.exp(min(0.0, seg.avg_logprob)) * span
            total += span
        if sampled:  # the next file starts from the seed again, not from this file's draws
            self._model = self._load()
        return EngineResult(
            text=" ".join(t for t in texts if t),
            language=language,
            detected=detected,
            confidence=round(weighted / total, 4) if total else 0.0,
            audio_seconds=round(seconds, 3),
            processing_seconds=round(time.perf_counter() - started, 3),
        )

    def _detect(self, audio: Any) -> str:
        _lang, _prob, probs = self._model.detect_language(audio, vad_filter=True)
        known = [(p, lang) for lang, p in probs if lang in LANGUAGES]
        return max(known)[1] if known else LANGUAGES[0]
