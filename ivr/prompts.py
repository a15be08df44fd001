"""Turns prompt definitions into media Asterisk can play: text is spoken once with
espeak-ng and cached in the sound directory by content hash; sounds are Asterisk's own.

Two kinds of speech, kept apart by the API:

- :meth:`PromptRenderer.text`: system and tenant texts (the catalogue, flow prompts,
  bulletins). Cached forever, one wav per distinct text, named by its hash. Never personal
  data: a cached text that held a caller's number would keep it on disk, and its unsalted
  hash name could be brute-forced back to the number.
- :meth:`PromptRenderer.digits` and :meth:`PromptRenderer.sentence`: a caller's number (or
  any digits of a caller) as a list of media, one cached sound per digit ("neljä") with a
  short pause between groups. No file name or content on disk encodes the sequence; the
  texts around the number stay cached texts.

Renders of the same file are done once at a time (concurrent askers wait for the one render);
the table of renders in flight only holds renders in progress, so it stays as small as the
number of prompts being rendered at that moment.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Awaitable, Callable
from pathlib import Path

from ivr import audio
from ivr.flowdefs.model import Prompt
from ivr.texts import Text, around, digit_word

log = logging.getLogger(__name__)

Speaker = Callable[[str, str], Awaitable[bytes]]

_NUMBER = re.compile(r"(\+?[0-9]+)?")  # nothing at all says nothing
GROUP_PAUSE = 0.2  # seconds of silence between digit groups ("0 4 0, 1 2 3, 4 5 6 7")
DIGIT_KEY = "digit"  # cache names of per-digit renders: digit-<hash of the word>
PART_KEY = "part"  # the texts around a number, trimmed: part-<hash of the text>


class PromptRenderer:
    def __init__(
        self, sounds_host: Path, sounds_inner: str, *, speak: Speaker = audio.speak
    ) -> None:
        self._host = sounds_host
        self._inner = sounds_inner
        self._speak = speak
        self._rendering: dict[str, asyncio.Task[None]] = {}

    @property
    def rendering(self) -> int:
        """How many files are being rendered right now (the size of the in-flight table)."""
        return len(self._rendering)

    async def text(self, text: str, language: str) -> str:
        """``sound:`` media for the spoken text, rendered on first use and cached. For system
        and tenant texts only: never put a caller's number or other personal data in it
        (use :meth:`digits` or :meth:`sentence`)."""
        key = audio.tts_key(text, language)

        async def render() -> bytes:
            data = await self._speak(text, language)
            log.info("rendered prompt %s (%s, %d chars)", key[:12], language, len(text))
            return data

        await self._ensure(key, render)
        return self._media(key)

    async def digits(self, digits: str, language: str) -> list[str]:
        """Media that say ``digits`` (a number: digits, optionally after a +) one digit at a
        time in ``language``, grouped like "0 4 0, 1 2 3, 4 5 6 7". Each digit is its own
        cached sound, so nothing on disk names or holds the number. ValueError for anything
        but a number; an empty string says nothing."""
        if not _NUMBER.fullmatch(digits):
            raise ValueError("digits() speaks a number: digits, optionally after a +")
        media: list[str] = []
        if digits.startswith("+"):
            media.append(await self._digit("+", language))
            digits = digits[1:]
        for i, group in enumerate(_groups(digits)):
            if i:
                media.append(await self._pause())
            media.extend([await self._digit(d, language) for d in group])
        return media

    async def sentence(
        self, key: Text, language: str, *, digits: str, **values: object
    ) -> list[str]:
        """The catalogue text ``key`` with a number for its ``{digits}``: the text before
        and after it are cached texts, the number is said by :meth:`digits`."""
        before, after = around(key, language, "digits", **values)
        media = [await self._part(before, language)] if _says(before) else []
        media += await self.digits(digits, language)
        if _says(after):  # not a lone "."
            media.append(await self._part(after, language))
        return media

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
        return self._media(key)

    # -- rendering --------------------------------------------------------------------------

    async def _digit(self, char: str, language: str) -> str:
        word = digit_word(char, language)
        key = f"{DIGIT_KEY}-{audio.tts_key(word, language)}"

        async def render() -> bytes:
            # Trimmed: a number is said at the pace of speech, not a word per second.
            return audio.trim_silence(await self._speak(word, language), margin=0.03)

        await self._ensure(key, render)
        return self._media(key)

    async def stored(self, key: str, load: Callable[[], Awaitable[bytes]]) -> str:
        """``sound:`` media for audio kept elsewhere (an uploaded call-out message, named by
        its sha256): fetched with ``load`` on first use, then cached under ``key``."""
        await self._ensure(key, load)
        return self._media(key)

    async def _part(self, text: str, language: str) -> str:
        """A cached text that a number follows or precedes, trimmed of espeak's silence
        so the sentence flows (named apart from the untrimmed render of the same text)."""
        key = f"{PART_KEY}-{audio.tts_key(text, language)}"

        async def render() -> bytes:
            data = audio.trim_silence(await self._speak(text, language))
            log.info("rendered prompt %s (%s, %d chars)", key[:17], language, len(text))
            return data

        await self._ensure(key, render)
        return self._media(key)

    async def _pause(self) -> str:
        data = audio.silence(GROUP_PAUSE)
        key = audio.hashlib_key(data)

        async def render() -> bytes:
            return data

        await self._ensure(key, render)
        return self._media(key)

    async def _ensure(self, key: str, render: Callable[[], Awaitable[bytes]]) -> None:
        """``<key>.wav`` exists once this returns. One render per key at a time: later askers
        wait for it; the entry goes once it is done (failed renders are tried again by the
        next asker). Cancelling an asker does not cancel a render others may wait for."""
        path = self._host / f"{key}.wav"
        if path.is_file():
            return
        task = self._rendering.get(key)
        if task is None:

            async def write() -> None:
                if not path.is_file():
                    audio.write_atomic(path, await render())

            task = asyncio.create_task(write(), name=f"render-{key[:18]}")
            self._rendering[key] = task
            task.add_done_callback(lambda done: self._rendered(key, done))
        await asyncio.shield(task)

    def _rendered(self, key: str, task: asyncio.Task[None]) -> None:
        if self._rendering.get(key) is task:
            del self._rendering[key]
        if not task.cancelled() and (exc := task.exception()) is not None:
            log.warning("rendering %s failed: %s", key[:18], exc)

    def _media(self, key: str) -> str:
        return f"sound:{self._inner}/{key}"


def _says(text: str) -> bool:
    return any(c.isalnum() for c in text)


def _groups(digits: str) -> list[str]:
    """Groups of three, the last of up to four: "0401234567" -> 040 123 4567."""
    groups: list[str] = []
    while len(digits) > 4:
        groups.append(digits[:3])
        digits = digits[3:]
    groups.append(digits)
    return groups
