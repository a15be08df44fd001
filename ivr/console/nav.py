"""Navigation entries: each page area's ``NAV`` names its links and the roles that see them
(the same roles its pages are guarded with, so the nav never offers a 403)."""

from __future__ import annotations

from dataclasses import dataclass

from ivr.http.guard import permits
from storage.events import Role


@dataclass(frozen=True)
class NavItem:
    path: str
    text: str  # catalogue key
    roles: frozenset[Role]

    @classmethod
    def of(cls, path: str, text: str, *roles: Role) -> NavItem:
        return cls(path, text, frozenset(roles or Role))

    def visible_to(self, role: Role) -> bool:
        return permits(role, self.roles)


def visible(items: tuple[NavItem, ...], role: Role) -> list[NavItem]:
    return [item for item in items if item.visible_to(role)]
