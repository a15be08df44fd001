"""Turns prompt definitions into media Asterisk can play: text is spoken once with
espeak-ng and cached in the sound directory by content hash; sounds are Asterisk's own."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from pathlib import Path

from ivr import audio
from ivr.flowdefs.model import Prompt

log = logging.getLogger(__name__)

Speaker = Callable[[str, str], Awaitable[bytes]]


class PromptRenderer:
    def __init__(
        self, sounds_host: Path, sounds_inner: str, *, speak: Speaker = audio.speak
    ) -> None:
        self._host = sounds_host
        self._inner = sounds_inner
        self._speak = speak
        self._locks: dict[str, asyncio.Lock] = {}

    async def text(self, text: str, language: str) -> str:
        """``sound:`` media for the spoken text, rendered on first use."""
        key = audio.tts_key(text, language)
        path = self._host / f"{key}.wav"
        if not path.is_file():
            lock = self._locks.setdefault(key, asyncio.Lock())
            async with lock:
                if not path.is_file():
                    audio.write_atomic(path, await self._speak(text, language))
                    log.info("rendered prompt %s (%s, %d chars)", key[:12], language, len(text))
        return f"sound:{self._inner}/{key}"

    async def prompt(self, prompt: Prompt, language: str, base_dir: Path) -> str:
        if prompt.sound is not None:
            return f"sound:{prompt.sound}"
        if prompt.text is not None:
            return await self.text(prompt.text, prompt.language or language)
        assert prompt.file is not None
        data = audio.to_asterisk_wav((base_dir / prompt.file).read_bytes())
        key = audio.hashlib_key(data)
        path = self._host / f"{key}.wav"
        if not path.is_file():
            audio.write_atomic(path, data)
        return f"sound:{self._inner}/{key}"
