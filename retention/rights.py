"""The data-subject rights in one place for the CLI and the API: who may ask, for whom.

:class:`SubjectRights` resolves the tenant (by slug) and the operator (an active ``admin``
user), turns raw phone / e-mail input into a :class:`storage.contacts.Subject`, and runs the
exporter, eraser or restrictor. With :class:`retention.copies.Copies` given, an erasure also
removes the person's converted listening copies and API export bundles. Bad input raises
:class:`retention.errors.BadSubject` or :class:`retention.errors.UnknownActor` before
anything is read or changed.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from recording.store import AudioStore
from retention.copies import Copies
from retention.eraser import Eraser, EraseResult
from retention.errors import BadSubject, UnknownActor
from retention.exporter import Exporter, ExportResult
from retention.restrictor import Restrictor, RestrictResult
from storage.contacts import BadContact, Subject
from storage.domain import Actor, TenantInfo, UserInfo
from storage.errors import NotFound
from storage.repositories.audit import AuditLog
from storage.repositories.erasures import ErasureRepository
from storage.repositories.media import ListeningLog
from storage.repositories.restrictions import RestrictionRepository
from storage.repositories.subjects import SubjectRepository
from storage.repositories.sweep import SweepRepository
from storage.repositories.tenants import TenantRepository
from storage.repositories.users import UserRepository


def subject_of(phone: str | None, email: str | None) -> Subject:
    try:
        return Subject.of(number=phone or None, email=email or None)
    except BadContact as exc:
        raise BadSubject(str(exc)) from None


log = logging.getLogger(__name__)


class SubjectRights:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        store: AudioStore,
        clock: Callable[[], datetime],
        *,
        copies: Copies | None = None,
    ) -> None:
        self.tenants = TenantRepository(sessions)
        self.users = UserRepository(sessions)
        self.exporter = Exporter(
            SubjectRepository(sessions), ListeningLog(sessions), AuditLog(sessions), store, clock
        )
        self.eraser = Eraser(
            ErasureRepository(sessions), SweepRepository(sessions), store, clock, copies=copies
        )
        self.restrictor = Restrictor(RestrictionRepository(sessions))
        self._sessions = sessions

    async def tenant(self, slug: str) -> TenantInfo:
        try:
            return await self.tenants.by_slug(slug)
        except NotFound:
            raise BadSubject(f"no tenant {slug!r}") from None

    async def operator(self, login: str) -> UserInfo:
        try:
            user = await self.users.by_login(login)
        except NotFound:
            raise UnknownActor(f"no user {login!r}") from None
        if not user.active or not user.role.is_admin:
            raise UnknownActor(f"user {login!r} is not an active admin")
        return user

    async def export(
        self, tenant: TenantInfo, subject: Subject, out_dir: Path, by: UserInfo
    ) -> ExportResult:
        return await self.exporter.export(tenant, subject, out_dir, by)

    async def erase(
        self, tenant: TenantInfo, subject: Subject, by: UserInfo, *, request_ref: str | None
    ) -> EraseResult:
        result = await self.eraser.erase(
            tenant.id, subject, Actor.user(by), request_ref=request_ref
        )
        return result

    async def restrict(
        self, tenant: TenantInfo, subject: Subject, by: UserInfo, *, reason: str | None
    ) -> RestrictResult:
        return await self.restrictor.restrict(tenant.id, subject, Actor.user(by), reason=reason)

    async def lift(self, tenant: TenantInfo, subject: Subject, by: UserInfo) -> int:
        return await self.restrictor.lift(tenant.id, subject, Actor.user(by))
