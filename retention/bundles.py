"""The export bundles the API writes (``<state>/exports``): they expire and go with an erasure.

A bundle (see :mod:`retention.exporter`) is personal data on the server's disk. It is kept
``ttl`` after it was written (``LINJA_EXPORT_TTL``, 24 hours by default) for the admin to
fetch; the sweep removes it after that (:meth:`ExportBundles.expire`). An erasure removes the
person's bundles at once (:meth:`ExportBundles.drop_subject`): those whose ``subject.json``
names the same tenant and phone number or e-mail address, or holds audio that was erased.
Bundles the CLI writes go to a directory the admin names and are the admin's to delete.

Blocking file work: call these in a worker thread.
"""

from __future__ import annotations

import json
import logging
import shutil
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from storage.contacts import Subject

log = logging.getLogger(__name__)

PREFIX = "subject-"  # every bundle directory's name starts so (retention.exporter)
DOCUMENT = "subject.json"


@dataclass(frozen=True, slots=True)
class ExportBundles:
    root: Path
    ttl: timedelta

    def expires_at(self, bundle: Path) -> datetime:
        """When ``bundle`` expires: ``ttl`` after it was written."""
        return datetime.fromtimestamp(_written(bundle), UTC) + self.ttl

    def expire(self, wall: float) -> int:
        """Remove the bundles written more than ``ttl`` before ``wall`` (Unix time)."""
        limit = wall - self.ttl.total_seconds()
        removed = 0
        for bundle in self._bundles():
            try:
                old = _written(bundle) < limit
            except FileNotFoundError:
                continue
            if old:
                removed += _remove(bundle, "expired")
        return removed

    def drop_subject(
        self, tenant_id: uuid.UUID, subject: Subject, audio_ids: Iterable[uuid.UUID] = ()
    ) -> int:
        """Remove every bundle about ``subject`` in the tenant, or holding ``audio_ids``."""
        erased = {str(i) for i in audio_ids}
        removed = 0
        for bundle in self._bundles():
            document = _document(bundle)
            if document is not None and _about(document, tenant_id, subject, erased):
                removed += _remove(bundle, "erased")
        return removed

    def _bundles(self) -> Iterator[Path]:
        try:
            entries = list(self.root.iterdir())
        except FileNotFoundError:
            return
        for entry in entries:
            if entry.name.startswith(PREFIX) and entry.is_dir() and not entry.is_symlink():
                yield entry


def _written(bundle: Path) -> float:
    """The bundle's write time: its document's (written last), else the directory's."""
    try:
        return (bundle / DOCUMENT).stat().st_mtime
    except FileNotFoundError:
        return bundle.stat().st_mtime


def _document(bundle: Path) -> dict[str, Any] | None:
    try:
        document = json.loads((bundle / DOCUMENT).read_text("utf-8"))
    except FileNotFoundError:
        return None  # still being written (or broken): it expires like any other
    except (OSError, ValueError) as exc:
        log.warning("[export %s] unreadable %s: %s", bundle.name, DOCUMENT, exc)
        return None
    return document if isinstance(document, dict) else None


def _about(
    document: dict[str, Any], tenant_id: uuid.UUID, subject: Subject, erased: set[str]
) -> bool:
    tenant = document.get("tenant")
    if not isinstance(tenant, dict) or tenant.get("id") != str(tenant_id):
        return False
    who = document.get("subject")
    if isinstance(who, dict):
        if subject.number and who.get("phone_number") in subject.number_forms():
            return True
        if subject.email and who.get("email") == subject.email:
            return True
    files = document.get("audio_files")
    return isinstance(files, list) and any(
        isinstance(f, dict) and f.get("id") in erased for f in files
    )


def _remove(bundle: Path, why: str) -> int:
    try:
        shutil.rmtree(bundle)
    except FileNotFoundError:
        return 0
    log.info("[export %s] bundle removed (%s)", bundle.name, why)
    return 1
