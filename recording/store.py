"""The audio store: where finished recordings and voice messages live, one file each.

Layout, relative to the store root (the ``location`` column holds this relative path)::

    <tenant uuid>/<kind>/<yyyy>/<mm>/<audio uuid>.wav      kind: recordings | voice_messages

Files arrive only through :meth:`AudioStore.finalise`: copied to a dot-named temp file in the
destination directory, fsynced, then renamed, so a reader (listening API, sweeper, export)
never sees half a file, and a crash leaves at most a ``.*.tmp`` file that
:meth:`AudioStore.stale_temps` finds. Every name coming from outside (a request, a database
row) goes through :meth:`AudioStore.path`, which refuses anything that does not match the
layout: no ``..``, no absolute paths, no other file names.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from pathlib import Path

_UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
_LOCATION = re.compile(
    rf"^(?P<tenant>{_UUID})/(?P<kind>recordings|voice_messages)/(?P<yyyy>\d{{4}})/(?P<mm>\d{{2}})"
    rf"/(?P<id>{_UUID})\.wav$"
)
_CHUNK = 1 << 20


class AudioKind(StrEnum):
    RECORDING = "recordings"
    VOICE_MESSAGE = "voice_messages"


class BadLocation(ValueError):
    """A location that is not a well-formed path inside the store."""


@dataclass(frozen=True, slots=True)
class StoredAudio:
    location: str  # relative to the store root
    size_bytes: int
    sha256: str


def location_for(kind: AudioKind, tenant_id: uuid.UUID, audio_id: uuid.UUID, at: datetime) -> str:
    return f"{tenant_id}/{kind.value}/{at:%Y}/{at:%m}/{audio_id}.wav"


def parse_location(location: str) -> tuple[uuid.UUID, AudioKind, uuid.UUID]:
    """(tenant id, kind, audio id) of a well-formed location; BadLocation otherwise."""
    m = _LOCATION.match(location)
    if m is None:
        raise BadLocation(f"not a store location: {location[:200]!r}")
    return uuid.UUID(m["tenant"]), AudioKind(m["kind"]), uuid.UUID(m["id"])


def sha256_file(path: Path) -> tuple[int, str]:
    """(size in bytes, hex sha256) of a file, read in chunks."""
    digest = hashlib.sha256()
    size = 0
    with path.open("rb") as f:
        while chunk := f.read(_CHUNK):
            digest.update(chunk)
            size += len(chunk)
    return size, digest.hexdigest()


class AudioStore:
    def __init__(self, root: Path) -> None:
        self.root = root

    def path(self, location: str) -> Path:
        """The host path of a location, after checking it against the layout."""
        parse_location(location)
        return self.root / location

    def finalise(
        self,
        source: Path,
        kind: AudioKind,
        tenant_id: uuid.UUID,
        audio_id: uuid.UUID,
        at: datetime,
        *,
        move: bool = True,
    ) -> StoredAudio:
        """Put ``source`` into the store atomically; ``move`` removes the source after."""
        location = location_for(kind, tenant_id, audio_id, at)
        dest = self.root / location
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = dest.with_name(f".{dest.name}.{os.getpid()}.tmp")
        digest = hashlib.sha256()
        size = 0
        with source.open("rb") as src, tmp.open("wb") as out:
            while chunk := src.read(_CHUNK):
                digest.update(chunk)
                size += len(chunk)
                out.write(chunk)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(tmp, 0o640)
        os.replace(tmp, dest)
        _fsync_dir(dest.parent)
        if move:
            source.unlink(missing_ok=True)
        return StoredAudio(location, size, digest.hexdigest())

    def delete(self, location: str) -> bool:
        """Remove the file; True if it was there. Idempotent."""
        path = self.path(location)
        try:
            path.unlink()
        except FileNotFoundError:
            return False
        return True

    def exists(self, location: str) -> bool:
        return self.path(location).is_file()

    def walk(self) -> Iterator[str]:
        """Every well-formed location present on disk (streamed, bounded memory)."""
        if not self.root.is_dir():
            return
        for dirpath, _dirs, files in os.walk(self.root):
            for name in files:
                rel = os.path.relpath(os.path.join(dirpath, name), self.root)
                if _LOCATION.match(rel):
                    yield rel

    def stale_temps(self) -> Iterator[Path]:
        """Temp files left by an interrupted :meth:`finalise`."""
        if not self.root.is_dir():
            return
        for dirpath, _dirs, files in os.walk(self.root):
            for name in files:
                if name.startswith(".") and name.endswith(".tmp"):
                    yield Path(dirpath) / name

    def copy_out(self, location: str, dest: Path) -> Path:
        """Copy a stored file to ``dest`` (an export bundle, say)."""
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(self.path(location), dest)
        return dest


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
