"""Keeps every bulletin number's audio ready for calls and for the dialplan fallback.

- Bulletin audio (uploaded, or text rendered by espeak-ng) is materialised in Asterisk's
  sound directory once, named by content hash.
- For each number, ``<fallback>/<number>.wav`` always holds what a caller should hear now
  (the active bulletins in order, or the "no known disruptions" prompt); the dialplan plays it
  when the controller is down. It is rewritten on every change and at every validity-window
  boundary.
- A manifest beside the fallback files lets a restarted controller serve calls while Postgres
  is unreachable.
- Changes arrive by Postgres NOTIFY (``linja bulletin set`` sends one), by a periodic poll,
  and at the next start/end time of a bulletin.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Protocol

from ivr import audio
from ivr.bulletins.state import NumberState, Prepared
from ivr.clock import Clock
from ivr.prompts import PromptRenderer, Speaker
from ivr.texts import Text, text
from storage.repositories.bulletins import BulletinNumber, BulletinView

log = logging.getLogger(__name__)


class BulletinStore(Protocol):
    async def numbers(self) -> list[BulletinNumber]: ...
    async def listing(
        self, number: str | None = None, *, include_ended: bool = False, now: datetime
    ) -> list[BulletinView]: ...
    async def audio(self, bulletin_id: uuid.UUID) -> bytes | None: ...


@dataclass(frozen=True)
class Paths:
    sounds_host: Path
    sounds_inner: str
    fallback_host: Path


_NIL = uuid.UUID(int=0)
_SEEN_FOR = 1.0  # seconds a fallback file seen on disk is taken to be there


class BulletinService:
    def __init__(
        self,
        store: BulletinStore,
        paths: Paths,
        clock: Clock,
        *,
        speak: Speaker = audio.speak,
        poll_interval: float = 30.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._monotonic = monotonic
        self._store = store
        self._paths = paths
        self._clock = clock
        # Text is spoken and cached by content hash exactly like any other prompt.
        self._prompts = PromptRenderer(paths.sounds_host, paths.sounds_inner, speak=speak)
        self._poll = poll_interval
        self._states: dict[str, NumberState] = {}
        self._durations: dict[str, float] = {}
        self._changed = asyncio.Event()
        self._fallback_written: dict[str, tuple[str, ...]] = {}
        self._fallback_names: dict[str, str] = {}
        self._fallback_seen: dict[str, float] = {}  # number -> when its file was last seen
        self.on_fallback_written: list[Callable[[], None]] = []  # told after any rewrite
        self.refreshes = 0

    # ----- what calls use ----------------------------------------------------------------------
    def state(self, number: str) -> NumberState | None:
        return self._states.get(number)

    def numbers(self) -> list[str]:
        return sorted(self._states)

    def notify_changed(self) -> None:
        self._changed.set()

    # ----- what the console shows ----------------------------------------------------------
    def wav_of(self, prepared: Prepared) -> Path:
        """The host file a prepared bulletin (or prompt) plays."""
        return self._host_wav(prepared.media)

    def fallback_file(self, number: str) -> Path:
        """What the dialplan plays on ``number`` while the controller is down."""
        return self._paths.fallback_host / f"{number}.wav"

    def fallback_plays(self, number: str, media: Sequence[str], *, look: bool = False) -> bool:
        """Whether ``number``'s fallback file holds exactly ``media`` (in order): written by
        this process for that list and still there (looked for at most once a second: a
        file deleted by hand is noticed within that second; ``look``: looked for now, and
        not remembered). False until this process has written it (e.g. after a start from
        the manifest) and between a window boundary and the rewrite that follows it."""
        if self._fallback_written.get(number) != tuple(media):
            return False
        if look:
            return os.path.isfile(self._fallback_names[number])
        now = self._monotonic()
        if now - self._fallback_seen.get(number, -_SEEN_FOR) < _SEEN_FOR:
            return True
        if not os.path.isfile(self._fallback_names[number]):  # not pathlib: often
            return False
        self._fallback_seen[number] = now
        return True

    async def preview(self, text_: str, language: str) -> Path:
        """``text_`` spoken as a bulletin would be (cached by hash like any prompt)."""
        return self._host_wav(await self._prompts.text(text_, language))

    # ----- loading -----------------------------------------------------------------------------
    async def refresh(self) -> None:
        """Reload from the database and bring files up to date. Raises on DB trouble."""
        now = self._clock()
        numbers = await self._store.numbers()
        views = await self._store.listing(now=now)
        by_number: dict[str, list[BulletinView]] = {}
        for v in views:
            by_number.setdefault(v.number, []).append(v)
        states: dict[str, NumberState] = {}
        for n in numbers:
            no_dis = await self._prepare_text(
                text(Text.NO_DISRUPTIONS, n.language), n.language, _NIL, now
            )
            prepared = []
            for v in by_number.get(n.number, []):
                try:
                    prepared.append(await self._prepare(v))
                except audio.AudioError as exc:
                    log.error("bulletin %s on %s cannot be rendered: %s", v.id, n.number, exc)
            states[n.number] = NumberState(
                n.id, n.number, n.tenant, n.language, no_dis, tuple(prepared)
            )
        self._states = states
        self.refreshes += 1
        self._write_manifest()
        self.write_fallbacks()
        log.info(
            "bulletins refreshed: %d numbers, %d bulletins current or upcoming",
            len(states),
            sum(len(s.bulletins) for s in states.values()),
        )

    async def _prepare(self, v: BulletinView) -> Prepared:
        if v.audio_sha256 is not None:
            key = v.audio_sha256
            path = self._paths.sounds_host / f"{key}.wav"
            if not path.is_file():
                data = await self._store.audio(v.id)
                if data is None:
                    raise audio.AudioError("audio vanished from the database")
                audio.write_atomic(path, data)
            return self._prepared(key, v.id, v.starts_at, v.ends_at)
        assert v.text is not None
        return await self._prepare_text(v.text, v.language, v.id, v.starts_at, v.ends_at)

    async def _prepare_text(
        self,
        text: str,
        language: str,
        bulletin_id: uuid.UUID,
        starts_at: datetime,
        ends_at: datetime | None = None,
    ) -> Prepared:
        media = await self._prompts.text(text, language)
        return self._prepared(media.rsplit("/", 1)[-1], bulletin_id, starts_at, ends_at)

    def _prepared(
        self, key: str, bulletin_id: uuid.UUID, starts_at: datetime, ends_at: datetime | None
    ) -> Prepared:
        if key not in self._durations:
            self._durations[key] = audio.wav_duration(
                (self._paths.sounds_host / f"{key}.wav").read_bytes()
            )
        return Prepared(
            bulletin_id=bulletin_id,
            media=f"sound:{self._paths.sounds_inner}/{key}",
            duration=self._durations[key],
            starts_at=starts_at,
            ends_at=ends_at,
        )

    def _host_wav(self, media: str) -> Path:
        return self._paths.sounds_host / (media.rsplit("/", 1)[-1] + ".wav")

    # ----- fallback files ----------------------------------------------------------------------
    def write_fallbacks(self) -> None:
        """Rewrite each number's fallback file if what it should hold has changed."""
        now = self._clock()
        written = False
        for number, st in self._states.items():
            media = tuple(st.media(st.active(now)))
            if self._fallback_written.get(number) == media:
                continue
            written = True
            parts = [self._host_wav(m).read_bytes() for m in media]
            data = parts[0] if len(parts) == 1 else audio.concat_wavs(parts)
            audio.write_atomic(self._paths.fallback_host / f"{number}.wav", data)
            self._fallback_written[number] = media
            self._fallback_names[number] = str(self._paths.fallback_host / f"{number}.wav")
            self._fallback_seen.pop(number, None)
            log.info("fallback for %s now plays %d item(s)", number, len(media))
        if written:
            for told in self.on_fallback_written:
                told()

    def next_boundary(self, number: str | None = None) -> datetime | None:
        """The next start or end of a bulletin (of ``number``; of any number)."""
        now = self._clock()
        states = self._states.values() if number is None else [self._states[number]]
        times = [
            t
            for st in states
            for b in st.bulletins
            for t in (b.starts_at, b.ends_at)
            if t is not None and t > now
        ]
        return min(times) if times else None

    # ----- manifest ----------------------------------------------------------------------------
    def _manifest_path(self) -> Path:
        return self._paths.fallback_host / "manifest.json"

    def _write_manifest(self) -> None:
        def item(p: Prepared) -> dict[str, object]:
            return {
                "bulletin_id": str(p.bulletin_id),
                "media": p.media,
                "duration": p.duration,
                "starts_at": p.starts_at.isoformat(),
                "ends_at": p.ends_at.isoformat() if p.ends_at else None,
            }

        doc = {
            "numbers": [
                {
                    "number_id": str(st.number_id),
                    "number": st.number,
                    "tenant": st.tenant,
                    "language": st.language,
                    "no_disruptions": item(st.no_disruptions),
                    "bulletins": [item(b) for b in st.bulletins],
                }
                for st in self._states.values()
            ]
        }
        audio.write_atomic(self._manifest_path(), json.dumps(doc, indent=1).encode())

    def load_manifest(self) -> bool:
        """Last known state, for a start while the database is unreachable."""
        try:
            doc = json.loads(self._manifest_path().read_text())
        except (FileNotFoundError, ValueError):
            return False

        def item(d: dict[str, object]) -> Prepared:
            ends = d.get("ends_at")
            return Prepared(
                bulletin_id=uuid.UUID(str(d["bulletin_id"])),
                media=str(d["media"]),
                duration=float(str(d["duration"])),
                starts_at=datetime.fromisoformat(str(d["starts_at"])),
                ends_at=datetime.fromisoformat(str(ends)) if ends else None,
            )

        self._states = {
            n["number"]: NumberState(
                number_id=uuid.UUID(n["number_id"]),
                number=n["number"],
                tenant=n["tenant"],
                language=n["language"],
                no_disruptions=item(n["no_disruptions"]),
                bulletins=tuple(item(b) for b in n["bulletins"]),
            )
            for n in doc["numbers"]
        }
        log.warning("serving bulletins from the manifest of the last refresh")
        return True

    # ----- background loop ---------------------------------------------------------------------
    async def run(self) -> None:
        """Refresh on notification, poll interval and window boundaries, until cancelled."""
        retry = 1.0
        while True:
            boundary = self.next_boundary()
            wait = self._poll
            if boundary is not None:
                wait = max(0.0, min(wait, (boundary - self._clock()).total_seconds() + 0.05))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), timeout=wait)
            self._changed.clear()
            try:
                await self.refresh()
                retry = 1.0
            except Exception as exc:  # the database may be down: keep serving what we have
                log.warning(
                    "bulletin refresh failed (%s); keeping the last known bulletins",
                    type(exc).__name__,
                )
                self.write_fallbacks()
                await asyncio.sleep(retry)
                retry = min(retry * 2, 30.0)
