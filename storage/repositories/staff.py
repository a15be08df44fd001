"""Staff groups of the call-out service: the staff and partners phoned with a message."""

from __future__ import annotations

import uuid

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from storage.domain import StaffGroupView, StaffMemberView
from storage.errors import NotFound
from storage.models import StaffGroup, StaffGroupMember
from storage.repositories._uow import transaction


def _group(g: StaffGroup) -> StaffGroupView:
    return StaffGroupView(id=g.id, tenant_id=g.tenant_id, name=g.name, description=g.description)


def _member(m: StaffGroupMember) -> StaffMemberView:
    return StaffMemberView(
        id=m.id,
        group_id=m.group_id,
        name=m.name,
        phone_number=m.phone_number,
        kind=m.kind,
        user_id=m.user_id,
    )


class StaffGroupRepository:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def create_group(
        self, tenant_id: uuid.UUID, name: str, *, description: str = ""
    ) -> StaffGroupView:
        group = StaffGroup(id=uuid.uuid4(), tenant_id=tenant_id, name=name, description=description)
        async with transaction(self._sessions) as s:
            s.add(group)
            await s.flush()
            return _group(group)

    async def groups(self, tenant_id: uuid.UUID) -> list[StaffGroupView]:
        stmt = select(StaffGroup).where(StaffGroup.tenant_id == tenant_id).order_by(StaffGroup.name)
        async with transaction(self._sessions) as s:
            return [_group(g) for g in await s.scalars(stmt)]

    async def delete_group(self, group_id: uuid.UUID) -> None:
        """Removes the group and its members (their names and numbers go with it)."""
        async with transaction(self._sessions) as s:
            result = await s.execute(
                delete(StaffGroup).where(StaffGroup.id == group_id).returning(StaffGroup.id)
            )
            if result.first() is None:
                raise NotFound("staff group", group_id)

    async def add_member(
        self,
        group_id: uuid.UUID,
        name: str,
        phone_number: str,
        *,
        kind: str = "staff",
        user_id: uuid.UUID | None = None,
    ) -> StaffMemberView:
        member = StaffGroupMember(
            id=uuid.uuid4(),
            group_id=group_id,
            name=name,
            phone_number=phone_number,
            kind=kind,
            user_id=user_id,
        )
        async with transaction(self._sessions) as s:
            s.add(member)
            await s.flush()
            return _member(member)

    async def remove_member(self, member_id: uuid.UUID) -> None:
        async with transaction(self._sessions) as s:
            result = await s.execute(
                delete(StaffGroupMember)
                .where(StaffGroupMember.id == member_id)
                .returning(StaffGroupMember.id)
            )
            if result.first() is None:
                raise NotFound("staff group member", member_id)

    async def members(self, group_id: uuid.UUID) -> list[StaffMemberView]:
        stmt = (
            select(StaffGroupMember)
            .where(StaffGroupMember.group_id == group_id)
            .order_by(StaffGroupMember.name)
        )
        async with transaction(self._sessions) as s:
            return [_member(m) for m in await s.scalars(stmt)]
