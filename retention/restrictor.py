"""Restriction of processing: the person's data stays, but no new recordings are linked to
them and their callback requests are not dialled (the recorder and the dialer ask
:meth:`storage.repositories.restrictions.RestrictionRepository.is_restricted`).

A thin service over the repository so that the CLI and the API share one place that turns
raw input into a :class:`storage.contacts.Subject`.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from storage.contacts import Subject
from storage.domain import Actor
from storage.repositories.restrictions import RestrictionRepository, RestrictionView


@dataclass(frozen=True, slots=True)
class RestrictResult:
    restriction: RestrictionView
    cases_marked: int


class Restrictor:
    def __init__(self, restrictions: RestrictionRepository) -> None:
        self._restrictions = restrictions

    async def restrict(
        self, tenant_id: uuid.UUID, subject: Subject, actor: Actor, *, reason: str | None = None
    ) -> RestrictResult:
        view, cases = await self._restrictions.restrict(
            tenant_id, actor, number=subject.number, email=subject.email, reason=reason
        )
        return RestrictResult(view, cases)

    async def lift(self, tenant_id: uuid.UUID, subject: Subject, actor: Actor) -> int:
        return await self._restrictions.lift(
            tenant_id, actor, number=subject.number, email=subject.email
        )
