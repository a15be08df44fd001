"""The call center's "lines are busy" prompt, pre-rendered for the dialplan.

While the controller sheds load, a call-center call continues at its extension's ``shed``
label, where the dialplan (``[linja-busy]`` in dialplan/linja.conf) plays
``<fallback dir>/busy-<language>.wav`` and reads one key: 1 asks for a callback. The
controller renders these files at start, one per language, from the system text
:data:`ivr.texts.Text.LINES_BUSY`, so they are there before any load arrives.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from pathlib import Path

from ivr import audio
from ivr.texts import LANGUAGES, Text, text

__all__ = ["busy_file", "write_busy_prompts"]

log = logging.getLogger(__name__)

Speaker = Callable[[str, str], Awaitable[bytes]]


def busy_file(fallback_dir: Path, language: str) -> Path:
    return fallback_dir / f"busy-{language}.wav"


async def write_busy_prompts(fallback_dir: Path, speak: Speaker) -> list[Path]:
    """Render the busy prompt in every language into ``fallback_dir`` (kept if unchanged)."""
    written = []
    for lang in LANGUAGES:
        data = await speak(text(Text.LINES_BUSY, lang), lang)
        path = busy_file(fallback_dir, lang)
        if path.is_file() and path.read_bytes() == data:
            continue
        audio.write_atomic(path, data)
        written.append(path)
        log.info("busy prompt (%s) written to %s", lang, path)
    return written
