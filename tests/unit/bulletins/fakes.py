"""In-memory stand-ins for the bulletin store and text-to-speech."""

from __future__ import annotations

import hashlib
import uuid
from datetime import datetime

from ivr.audio import pcm_to_wav
from storage.repositories.bulletins import BulletinNumber, BulletinView

NUMBER_ID = uuid.UUID(int=100)


class FakeStore:
    def __init__(self) -> None:
        self.views: list[BulletinView] = []
        self.audio_blobs: dict[uuid.UUID, bytes] = {}
        self.fail = False
        self.number = BulletinNumber(NUMBER_ID, "100", "demo", "fi")

    async def numbers(self) -> list[BulletinNumber]:
        if self.fail:
            raise ConnectionRefusedError("database down")
        return [self.number]

    async def listing(
        self, number: str | None = None, *, include_ended: bool = False, now: datetime
    ) -> list[BulletinView]:
        if self.fail:
            raise ConnectionRefusedError("database down")
        return [
            v for v in self.views if v.cleared_at is None and (v.ends_at is None or v.ends_at > now)
        ]

    async def audio(self, bulletin_id: uuid.UUID) -> bytes | None:
        return self.audio_blobs.get(bulletin_id)

    def add(
        self,
        text: str,
        starts_at: datetime,
        ends_at: datetime | None = None,
        audio: bytes | None = None,
    ) -> BulletinView:
        bid = uuid.uuid4()
        digest = hashlib.sha256(audio).hexdigest() if audio is not None else None
        view = BulletinView(bid, "100", "demo", "fi", text, digest, starts_at, ends_at, None)
        if audio is not None:
            self.audio_blobs[bid] = audio
        self.views.append(view)
        return view


def tone(seconds: float) -> bytes:
    """A wav of the given length (8 kHz mono 16-bit)."""
    return pcm_to_wav(b"\x10\x00" * int(8000 * seconds))


class FakeSpeaker:
    """Text-to-speech that makes 0.1 s of audio per character and records what it said."""

    def __init__(self) -> None:
        self.spoken: list[tuple[str, str]] = []

    async def __call__(self, text: str, language: str) -> bytes:
        self.spoken.append((text, language))
        return tone(0.1 * len(text))
