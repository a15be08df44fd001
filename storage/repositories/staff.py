"""Staff groups of the call-out service: the staff and partners phoned with a message."""

from __future__ import annotations

import uuid

from sqlalchemy import delete, func, select, update
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
        other_numbers=tuple(m.other_numbers or ()),
        position=m.position,
        has_pin=m.pin_hash is not None,
        available=m.available,
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
        other_numbers: tuple[str, ...] = (),
        pin_hash: str | None = None,
        available: bool = True,
    ) -> StaffMemberView:
        """A new member, called after the group's members so far (their ``position``)."""
        async with transaction(self._sessions) as s:
            last = await s.scalar(
                select(func.coalesce(func.max(StaffGroupMember.position), 0)).where(
                    StaffGroupMember.group_id == group_id
                )
            )
            member = StaffGroupMember(
                id=uuid.uuid4(),
                group_id=group_id,
                name=name,
                phone_number=phone_number,
                kind=kind,
                user_id=user_id,
                other_numbers=list(other_numbers),
                position=int(last or 0) + 1,
                pin_hash=pin_hash,
                available=available,
            )
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
            .order_by(StaffGroupMember.position, StaffGroupMember.name)
        )
        async with transaction(self._sessions) as s:
            return [_member(m) for m in await s.scalars(stmt)]

    async def group_named(self, tenant_id: uuid.UUID, name: str) -> StaffGroupView | None:
        stmt = select(StaffGroup).where(StaffGroup.tenant_id == tenant_id, StaffGroup.name == name)
        async with transaction(self._sessions) as s:
            group = await s.scalar(stmt)
            return None if group is None else _group(group)

    async def set_available(self, member_id: uuid.UUID, available: bool) -> None:
        """Whether the member is called by new call-outs."""
        async with transaction(self._sessions) as s:
            result = await s.execute(
                update(StaffGroupMember)
                .where(StaffGroupMember.id == member_id)
                .values(available=available)
                .returning(StaffGroupMember.id)
            )
            if result.first() is None:
                raise NotFound("staff group member", member_id)
