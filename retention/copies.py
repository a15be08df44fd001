"""The copies of personal data outside the audio store, and who deletes them.

Under the state directory:

* ``listen-cache/converted``: mp3 / ogg copies the listening API made
  (:mod:`recording.convert`), kept :data:`recording.convert.CACHE_TTL`;
* ``listen-cache``: the listening API's work directory (zip exports of a case are anonymous
  temporary files there; anything left over expires like a converted copy);
* ``exports``: the API's subject-export bundles (:mod:`retention.bundles`).

:class:`Copies` is their one owner for the sweeper and the eraser: the copies of deleted
audio go with it (:meth:`Copies.drop_audio`), an erased person's bundles go at once
(:meth:`Copies.drop_subject`), and every sweep removes what is past its TTL
(:meth:`Copies.expire`). Blocking file work: call these in a worker thread.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from recording.convert import CACHE_TTL, drop_copies, prune_cache
from retention.bundles import ExportBundles
from storage.contacts import Subject

LISTEN_DIR = "listen-cache"
CONVERTED_DIR = "converted"
EXPORTS_DIR = "exports"


@dataclass(frozen=True, slots=True)
class Expired:
    converted: int  # converted copies and leftover work files
    bundles: int


@dataclass(frozen=True, slots=True)
class Copies:
    workdir: Path
    bundles: ExportBundles
    converted_ttl: float = CACHE_TTL

    @classmethod
    def in_state(cls, state_dir: Path, export_ttl: float) -> Copies:
        """The copies of the service whose state directory is ``state_dir``."""
        return cls(
            state_dir / LISTEN_DIR,
            ExportBundles(state_dir / EXPORTS_DIR, timedelta(seconds=export_ttl)),
        )

    @property
    def converted(self) -> Path:
        return self.workdir / CONVERTED_DIR

    def drop_audio(self, audio_ids: Iterable[uuid.UUID]) -> int:
        """Remove the converted copies of deleted audio; how many files."""
        return drop_copies(self.converted, audio_ids)

    def drop_subject(
        self, tenant_id: uuid.UUID, subject: Subject, audio_ids: Iterable[uuid.UUID]
    ) -> int:
        """Remove the export bundles about an erased person; how many bundles."""
        return self.bundles.drop_subject(tenant_id, subject, audio_ids)

    def expire(self, wall: float) -> Expired:
        """Remove every copy past its TTL at ``wall`` (Unix time)."""
        converted = prune_cache(self.converted, ttl=self.converted_ttl, now=wall)
        converted += prune_cache(self.workdir, ttl=self.converted_ttl, now=wall)
        return Expired(converted, self.bundles.expire(wall))
