"""Staff groups of the call-out service: the staff and partners phoned with a message."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import ColumnElement, String, and_, cast, delete, func, or_, select, update
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from storage.domain import StaffGroupView, StaffMemberView
from storage.errors import NotFound
from storage.models import Callout, CalloutAttempt, CalloutMember, StaffGroup, StaffGroupMember
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

    async def update_member(
        self,
        member_id: uuid.UUID,
        *,
        name: str,
        numbers: tuple[str, ...],
        kind: str,
        available: bool,
        pin_hash: str | bool | None = False,
    ) -> StaffMemberView:
        """Sets the member's data (their place in the order stays); ``pin_hash`` False keeps
        the PIN, None removes it."""
        values: dict[str, object] = {
            "name": name,
            "phone_number": numbers[0],
            "other_numbers": list(numbers[1:]),
            "kind": kind,
            "available": available,
        }
        if pin_hash is not False:
            values["pin_hash"] = pin_hash
        async with transaction(self._sessions) as s:
            member = await s.scalar(
                update(StaffGroupMember)
                .where(StaffGroupMember.id == member_id)
                .values(**values)
                .returning(StaffGroupMember)
            )
            if member is None:
                raise NotFound("staff group member", member_id)
            return _member(member)

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


# -- data-subject rights: a member's name, numbers and PIN are personal data (issue 16) --------


def _member_matches(tenant_id: uuid.UUID, forms: Sequence[str]) -> ColumnElement[bool]:
    return and_(
        StaffGroupMember.group_id.in_(
            select(StaffGroup.id).where(StaffGroup.tenant_id == tenant_id)
        ),
        or_(
            StaffGroupMember.phone_number.in_(forms),
            StaffGroupMember.other_numbers.overlap(cast(list(forms), ARRAY(String(21)))),
        ),
    )


def _attempt_matches(tenant_id: uuid.UUID, forms: Sequence[str]) -> ColumnElement[bool]:
    return and_(
        CalloutAttempt.callout_member_id.in_(
            select(CalloutMember.id)
            .join(Callout, Callout.id == CalloutMember.callout_id)
            .where(Callout.tenant_id == tenant_id)
        ),
        CalloutAttempt.number.in_(forms),
    )


async def staff_member_rows(
    s: AsyncSession, tenant_id: uuid.UUID, forms: Sequence[str]
) -> tuple[list[dict[str, object]], list[dict[str, object]]]:
    """The person's memberships (without the PIN hash: "has_pin" instead) and the call-out
    attempts to their numbers, for an export."""
    if not forms:
        return [], []
    members: list[dict[str, object]] = [
        {
            "id": str(m.id),
            "group": group,
            "name": m.name,
            "numbers": [m.phone_number, *(m.other_numbers or ())],
            "kind": m.kind,
            "has_pin": m.pin_hash is not None,
            "available": m.available,
            "created_at": m.created_at.isoformat(),
        }
        for m, group in (
            await s.execute(
                select(StaffGroupMember, StaffGroup.name)
                .join(StaffGroup, StaffGroup.id == StaffGroupMember.group_id)
                .where(_member_matches(tenant_id, forms))
                .order_by(StaffGroup.name)
            )
        ).all()
    ]
    attempts: list[dict[str, object]] = [
        {
            "callout_member_id": str(a.callout_member_id),
            "attempt_no": a.attempt_no,
            "number": a.number,
            "started_at": a.started_at.isoformat(),
            "answered_at": None if a.answered_at is None else a.answered_at.isoformat(),
            "ended_at": None if a.ended_at is None else a.ended_at.isoformat(),
            "key": a.key,
            "outcome": a.outcome,
        }
        for a in await s.scalars(
            select(CalloutAttempt)
            .where(_attempt_matches(tenant_id, forms))
            .order_by(CalloutAttempt.started_at)
        )
    ]
    return members, attempts


async def erase_staff_in(
    s: AsyncSession, tenant_id: uuid.UUID, forms: Sequence[str]
) -> tuple[int, int]:
    """In the erasure's transaction: removes the person's memberships (name, numbers, PIN
    hash; a call-out keeps the member's place and outcomes, not who it was) and blanks their
    number in call-out attempts. Returns (members removed, attempts blanked)."""
    if not forms:
        return 0, 0
    ids = list(
        await s.scalars(select(StaffGroupMember.id).where(_member_matches(tenant_id, forms)))
    )
    blanked = await s.execute(
        update(CalloutAttempt)
        .where(
            or_(
                _attempt_matches(tenant_id, forms),
                CalloutAttempt.callout_member_id.in_(
                    select(CalloutMember.id).where(CalloutMember.member_id.in_(ids))
                ),
            ),
            CalloutAttempt.number.is_not(None),
        )
        .values(number=None)
        .returning(CalloutAttempt.id)
    )
    n_blanked = len(blanked.all())
    if ids:
        await s.execute(delete(StaffGroupMember).where(StaffGroupMember.id.in_(ids)))
    return len(ids), n_blanked
