"""The menus: features add their entries, and a page shows only those the viewer may use (no dead links)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

from portal.auth.model import Viewer

Area = Literal["side", "top"]


@dataclass(frozen=True, slots=True)
class NavItem:
    label: str
    route: str
    area: Area
    visible: Callable[[Viewer], bool]
    # Routes whose name starts with this prefix highlight the entry (e.g. "users" for users.invite).
    section: str
    order: int = 100


@dataclass(frozen=True, slots=True)
class NavLink:
    label: str
    route: str
    current: bool


@dataclass(slots=True)
class Navigation:
    items: list[NavItem] = field(default_factory=list)

    def add(self, item: NavItem) -> None:
        self.items.append(item)
        self.items.sort(key=lambda i: i.order)

    def for_viewer(self, viewer: Viewer | None, current_route: str) -> dict[Area, list[NavLink]]:
        links: dict[Area, list[NavLink]] = {"side": [], "top": []}
        if viewer is None:
            return links
        for item in self.items:
            if item.visible(viewer):
                current = current_route == item.route or current_route.startswith(item.section + ".")
                links[item.area].append(NavLink(item.label, item.route, current))
        return links
