"""Listening to recordings and voice messages: who may, and "log first, then send".

Policy (:func:`may_listen`): only an active ``admin`` or ``team`` user of the tenant that owns
the audio may listen; ``external`` users never, users of other tenants never, and neither a
user without a tenant. A refusal writes no listening event; it goes to the audit log instead
(``audio.listen_refused``) so an auditor sees who tried.

Every method that hands out audio (:meth:`ListeningService.open`,
:meth:`ListeningService.open_by_location`, :meth:`ListeningService.export_case`) first checks
the row, the access and the file, opens the file (converted if asked), and then writes the
listening event (:class:`storage.repositories.media.ListeningLog`), which commits before the
method returns. Only then does the caller (the HTTP layer) send a byte. If the event cannot
be written the method raises :class:`ListenUnavailable` and the caller sends nothing.

This module does no HTTP and no SQL: repositories, the store and the converter come in
through the constructor as the protocols below.

Exception tree::

    ListenError
    ├── BadRequest            an id, name or parameter that is not well-formed      (400)
    ├── AccessDenied          the user may not listen to this tenant's audio        (403)
    ├── AudioNotFound         no such recording / voice message / case              (404)
    ├── AudioGone             swept (deleted) or its file is no longer in the store (410)
    ├── NotConvertible        too large to convert, or the conversion failed        (422)
    └── ListenUnavailable     the database (listening log) or converter is unavailable (503)
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import tempfile
import uuid
import zipfile
from collections.abc import Awaitable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any, BinaryIO, NoReturn, Protocol, TypeVar

from recording.convert import AudioFormat, ConversionError, ConverterBusy
from recording.store import AudioKind, BadLocation, parse_location
from storage.domain import Actor, AudioView, CaseView, ListeningEventView, UserInfo
from storage.errors import NotFound, StorageError
from storage.events import ListenKind, Role
from storage.ports import AuditAppender, ListenRecorder

log = logging.getLogger(__name__)

LISTENER_ROLES = frozenset({Role.ADMIN, Role.TEAM})


# ----- errors -----------------------------------------------------------------------------


class ListenError(Exception):
    """Base of every refusal or failure of the listening service."""


class BadRequest(ListenError):
    pass


class AccessDenied(ListenError):
    pass


class AudioNotFound(ListenError):
    pass


class AudioGone(ListenError):
    pass


class NotConvertible(ListenError):
    pass


class ListenUnavailable(ListenError):
    pass


# ----- what the service needs -------------------------------------------------------------


class AudioType(StrEnum):
    RECORDING = "recording"
    VOICE_MESSAGE = "voice_message"

    @property
    def store_kind(self) -> AudioKind:
        return AudioKind.RECORDING if self is AudioType.RECORDING else AudioKind.VOICE_MESSAGE

    @classmethod
    def of_store_kind(cls, kind: AudioKind) -> AudioType:
        return cls.RECORDING if kind is AudioKind.RECORDING else cls.VOICE_MESSAGE


class AudioRepo(Protocol):
    async def get(self, audio_id: uuid.UUID) -> AudioView: ...
    async def for_case(self, case_id: uuid.UUID) -> list[AudioView]: ...


class CaseLookup(Protocol):
    async def get(self, case_id: uuid.UUID) -> CaseView: ...


class EventLog(ListenRecorder, Protocol):
    async def for_case(self, case_id: uuid.UUID) -> list[ListeningEventView]: ...


class AudioFiles(Protocol):
    def path(self, location: str) -> Path: ...


class FormatConverter(Protocol):
    async def open(self, source: Path, fmt: AudioFormat, key: str) -> BinaryIO: ...


# ----- results ----------------------------------------------------------------------------


@dataclass
class Payload:
    """Audio ready to send: the event(s) are already committed. Close ``file`` when done."""

    file: BinaryIO
    size: int
    content_type: str
    filename: str
    events: tuple[ListeningEventView, ...]
    audio: tuple[AudioView, ...] = field(default=())

    def close(self) -> None:
        self.file.close()


def may_listen(user: UserInfo, tenant_id: uuid.UUID | None) -> bool:
    """True if ``user`` may listen to audio of tenant ``tenant_id``."""
    return (
        user.disabled_at is None
        and user.role in LISTENER_ROLES
        and user.tenant_id is not None
        and user.tenant_id == tenant_id
    )


def parse_id(value: str, what: str) -> uuid.UUID:
    """A canonical UUID from a request; BadRequest otherwise (no braces, no URNs)."""
    try:
        parsed = uuid.UUID(value)
    except (ValueError, AttributeError, TypeError):
        parsed = None
    if parsed is None or str(parsed) != value.lower():
        raise BadRequest(f"{what} must be a UUID like 123e4567-e89b-12d3-a456-426614174000")
    return parsed


def file_name(audio: AudioView, fmt: AudioFormat) -> str:
    """What a download is called: kind and id only, never the stored name (it may be free
    text) and never a path."""
    return f"{audio.kind}-{audio.id}.{fmt.value}"


T = TypeVar("T")


class ListeningService:
    def __init__(
        self,
        *,
        recordings: AudioRepo,
        voice_messages: AudioRepo,
        cases: CaseLookup,
        events: EventLog,
        store: AudioFiles,
        converter: FormatConverter,
        workdir: Path,
        audit: AuditAppender | None = None,
    ) -> None:
        self._repos = {AudioType.RECORDING: recordings, AudioType.VOICE_MESSAGE: voice_messages}
        self._cases = cases
        self._events = events
        self._store = store
        self._converter = converter
        self._workdir = workdir
        self._audit = audit
        workdir.mkdir(parents=True, exist_ok=True)
        os.chmod(workdir, 0o700)

    # ----- metadata (no audio, no listening event) -------------------------------------

    async def describe(self, kind: AudioType, audio_id: uuid.UUID, user: UserInfo) -> AudioView:
        """The metadata of one recording / voice message the user may listen to."""
        await self._require_access(user, None, kind.value, audio_id, "metadata")
        audio = await self._get(kind, audio_id)
        await self._require_access(user, audio.tenant_id, kind.value, audio.id, "metadata")
        return audio

    async def case_audio(self, case_id: uuid.UUID, user: UserInfo) -> list[AudioView]:
        """Every recording and voice message of a case (deleted ones too, as tombstones)."""
        await self._require_access(user, None, "case", case_id, "list")
        case = await self._case(case_id)
        await self._require_access(user, case.tenant_id, "case", case_id, "list")
        return await self._case_audio(case_id)

    async def listening_events(
        self, case_id: uuid.UUID, user: UserInfo
    ) -> list[ListeningEventView]:
        """Who listened to a case's audio, oldest first: for an ``admin`` of the tenant."""
        await self._require_access(user, None, "case", case_id, "audit")
        case = await self._case(case_id)
        await self._require_access(user, case.tenant_id, "case", case_id, "audit")
        if not user.role.is_admin:
            await self._refuse(
                user, case.tenant_id, "case", case_id, "audit",
                message="only admin users of the tenant may read its listening log",
            )  # fmt: skip
        return await _storage(self._events.for_case(case_id))

    # ----- audio ------------------------------------------------------------------------

    async def open(
        self,
        kind: AudioType,
        audio_id: uuid.UUID,
        user: UserInfo,
        *,
        mode: ListenKind,
        fmt: AudioFormat,
        link: str,
    ) -> Payload:
        """One recording / voice message, with its listening event already committed."""
        await self._require_access(user, None, kind.value, audio_id, mode)
        audio = await self._get(kind, audio_id)
        return await self._open(audio, user, mode=mode, fmt=fmt, link=link)

    async def open_by_location(
        self, location: str, user: UserInfo, *, mode: ListenKind, fmt: AudioFormat, link: str
    ) -> Payload:
        """The same by store location (``<tenant>/<kind>/<yyyy>/<mm>/<id>.wav``); anything
        else, ``..`` and absolute paths included, is a BadRequest."""
        try:
            tenant_id, store_kind, audio_id = parse_location(location)
        except BadLocation:
            log.warning("refused audio name %r", location[:200])
            raise BadRequest(
                "name must be a store location: <tenant uuid>/<recordings|voice_messages>/"
                "<yyyy>/<mm>/<uuid>.wav"
            ) from None
        kind = AudioType.of_store_kind(store_kind)
        await self._require_access(user, None, kind.value, audio_id, mode)
        audio = await self._get(kind, audio_id)
        if audio.location != location or audio.tenant_id != tenant_id:
            raise AudioNotFound(f"no audio at {location}")
        return await self._open(audio, user, mode=mode, fmt=fmt, link=link)

    async def export_case(self, case_id: uuid.UUID, user: UserInfo, *, link: str) -> Payload:
        """A zip of the case's audio (original wav files) and ``metadata.json``; one export
        event per file, all committed before this returns."""
        await self._require_access(user, None, "case", case_id, ListenKind.EXPORT)
        case = await self._case(case_id)
        await self._require_access(user, case.tenant_id, "case", case_id, ListenKind.EXPORT)
        audio = await self._case_audio(case_id)
        included: list[tuple[AudioView, BinaryIO, str]] = []
        skipped: list[dict[str, str]] = []
        try:
            for a in audio:
                try:
                    f = self._open_source(a)
                except AudioGone as exc:
                    skipped.append({"kind": a.kind, "id": str(a.id), "reason": str(exc)})
                    continue
                included.append((a, f, f"{AudioType(a.kind).store_kind.value}/{a.id}.wav"))
            if not included:
                if skipped:
                    raise AudioGone(f"all audio of case {case_id} has been deleted")
                raise AudioNotFound(f"case {case_id} has no recordings or voice messages")
            metadata = _export_metadata(case, user, included, skipped)
            bundle = tempfile.TemporaryFile(dir=self._workdir)  # noqa: SIM115 (returned open)
            try:
                await asyncio.to_thread(_write_zip, bundle, included, metadata)
                events = []
                for a, _f, member in included:
                    events.append(await self._log(a, user, ListenKind.EXPORT, f"{link}#{member}"))
            except BaseException:
                bundle.close()
                raise
        finally:
            for _a, f, _m in included:
                f.close()
        size = bundle.seek(0, os.SEEK_END)
        bundle.seek(0)
        log.info("[%s] export of %d file(s) to %s", case_id, len(included), user.login)
        return Payload(
            file=bundle,
            size=size,
            content_type="application/zip",
            filename=f"case-{case_id}.zip",
            events=tuple(events),
            audio=tuple(a for a, _f, _m in included),
        )

    # ----- inside -----------------------------------------------------------------------

    async def _open(
        self, audio: AudioView, user: UserInfo, *, mode: ListenKind, fmt: AudioFormat, link: str
    ) -> Payload:
        kind = AudioType(audio.kind)
        await self._require_access(user, audio.tenant_id, kind.value, audio.id, mode)
        source = self._open_source(audio)  # checks deletion and the file; keeps it open
        try:
            f = await self._converted(audio, fmt)
        finally:
            source.close()
        try:
            size = f.seek(0, os.SEEK_END)
            f.seek(0)
            event = await self._log(audio, user, mode, link)
        except BaseException:
            f.close()
            raise
        log.info("[%s] %s %s as %s by %s", audio.case_id, mode.value, audio.id, fmt, user.login)
        return Payload(
            file=f,
            size=size,
            content_type=fmt.content_type,
            filename=file_name(audio, fmt),
            events=(event,),
            audio=(audio,),
        )

    def _open_source(self, audio: AudioView) -> BinaryIO:
        if audio.deleted_at is not None:
            reason = audio.deletion_reason.value if audio.deletion_reason else "deleted"
            raise AudioGone(f"{audio.kind} {audio.id} was deleted ({reason})")
        if audio.being_deleted:
            raise AudioGone(f"{audio.kind} {audio.id} is being deleted")
        try:
            return self._store.path(audio.location).open("rb")
        except BadLocation:
            log.error(
                "[%s] %s %s: location is not in the store", audio.case_id, audio.kind, audio.id
            )
        except FileNotFoundError:
            log.warning(
                "[%s] %s %s: file missing from the store", audio.case_id, audio.kind, audio.id
            )
        raise AudioGone(f"{audio.kind} {audio.id} is no longer in the audio store")

    async def _converted(self, audio: AudioView, fmt: AudioFormat) -> BinaryIO:
        try:
            return await self._converter.open(
                self._store.path(audio.location), fmt, f"{audio.id}-{audio.sha256}"
            )
        except ConverterBusy as exc:
            raise ListenUnavailable(str(exc)) from exc
        except ConversionError as exc:
            log.warning("[%s] %s %s: %s", audio.case_id, audio.kind, audio.id, exc)
            raise NotConvertible(str(exc)) from exc
        except FileNotFoundError:
            raise AudioGone(f"{audio.kind} {audio.id} is no longer in the audio store") from None

    async def _log(
        self, audio: AudioView, user: UserInfo, mode: ListenKind, link: str
    ) -> ListeningEventView:
        is_rec = audio.kind == AudioType.RECORDING
        try:
            return await self._events.record(
                user_id=user.id,
                case_id=audio.case_id,
                kind=mode,
                link=link,
                recording_id=audio.id if is_rec else None,
                voice_message_id=None if is_rec else audio.id,
                at=datetime.now(UTC),
            )
        except StorageError as exc:
            log.error("[%s] listening event not written (%s): nothing sent", audio.case_id, exc)
            raise ListenUnavailable("the listening log cannot be written; try again later") from exc

    async def _case_audio(self, case_id: uuid.UUID) -> list[AudioView]:
        found: list[AudioView] = []
        for repo in self._repos.values():
            found += await _storage(repo.for_case(case_id))
        return sorted(found, key=lambda a: (a.completed_at, a.kind, str(a.id)))

    async def _get(self, kind: AudioType, audio_id: uuid.UUID) -> AudioView:
        try:
            return await _storage(self._repos[kind].get(audio_id))
        except NotFound:
            raise AudioNotFound(f"no {kind.value} {audio_id}") from None

    async def _case(self, case_id: uuid.UUID) -> CaseView:
        try:
            return await _storage(self._cases.get(case_id))
        except NotFound:
            raise AudioNotFound(f"no case {case_id}") from None

    async def _require_access(
        self,
        user: UserInfo,
        tenant_id: uuid.UUID | None,
        target: str,
        target_id: uuid.UUID,
        what: str,
    ) -> None:
        """Refuse (audited) unless ``user`` may listen to ``tenant_id``'s audio. With no
        tenant yet (before the lookup) refuse users who may listen to nobody's, so they
        learn nothing about which ids exist."""
        if may_listen(user, tenant_id if tenant_id is not None else user.tenant_id):
            return
        await self._refuse(user, tenant_id, target, target_id, what)

    async def _refuse(
        self,
        user: UserInfo,
        tenant_id: uuid.UUID | None,
        target: str,
        target_id: uuid.UUID,
        what: str,
        *,
        message: str = "only admin and team users of the owning tenant may listen",
    ) -> NoReturn:
        tenant_id = tenant_id if tenant_id is not None else user.tenant_id
        log.warning("[%s] %s by %s refused (role %s)", target_id, what, user.login, user.role)
        if self._audit is not None:
            try:
                await self._audit.append(
                    "audio.listen_refused",
                    Actor.user(user),
                    tenant_id=tenant_id,
                    target_type=target,
                    target_id=target_id,
                    details={"mode": str(what), "role": user.role.value},
                )
            except StorageError as exc:  # the refusal stands either way
                log.error("[%s] refusal not audited: %s", target_id, exc)
        raise AccessDenied(message)


async def _storage(call: Awaitable[T]) -> T:
    """Await a repository call; an unreachable database becomes ListenUnavailable."""
    try:
        return await call
    except NotFound:
        raise
    except StorageError as exc:
        raise ListenUnavailable(f"database unavailable: {type(exc).__name__}") from exc


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def audio_json(a: AudioView) -> dict[str, Any]:
    """The public metadata of one recording / voice message."""
    return {
        "kind": a.kind,
        "id": str(a.id),
        "case_id": str(a.case_id),
        "tenant_id": str(a.tenant_id),
        "name": a.name,
        "location": a.location,
        "completed_at": _iso(a.completed_at),
        "duration_seconds": a.duration.total_seconds(),
        "size_bytes": a.size_bytes,
        "sha256": a.sha256,
        "deleted_at": _iso(a.deleted_at),
        "deletion_reason": None if a.deletion_reason is None else a.deletion_reason.value,
        "status": a.status,
        "failure_reason": a.failure_reason,
        "legal_hold": a.legal_hold,
    }


def _export_metadata(
    case: CaseView,
    user: UserInfo,
    included: list[tuple[AudioView, BinaryIO, str]],
    skipped: list[dict[str, str]],
) -> dict[str, Any]:
    return {
        "case_id": str(case.id),
        "tenant_id": str(case.tenant_id),
        "case_started_at": _iso(case.started_at),
        "exported_at": datetime.now(UTC).isoformat(),
        "exported_by": {"user_id": str(user.id), "login": user.login},
        "files": [{**audio_json(a), "file": member} for a, _f, member in included],
        "not_included": skipped,
    }


def _write_zip(
    out: BinaryIO, included: list[tuple[AudioView, BinaryIO, str]], metadata: dict[str, Any]
) -> None:
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_STORED) as z:
        for _a, src, member in included:
            with z.open(member, "w", force_zip64=True) as dst:
                while chunk := src.read(1 << 20):
                    dst.write(chunk)
        z.writestr("metadata.json", json.dumps(metadata, indent=2, sort_keys=True))


__all__ = [
    "AccessDenied",
    "AudioGone",
    "AudioNotFound",
    "AudioType",
    "BadRequest",
    "ListenError",
    "ListenUnavailable",
    "ListeningService",
    "NotConvertible",
    "Payload",
    "audio_json",
    "may_listen",
    "parse_id",
]
