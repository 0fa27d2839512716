"""The menus: features add their entries, and a page shows only those whose route admits the viewer (no dead links)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from aiohttp import web

from portal.auth.model import Viewer
from portal.auth.rules import rule_of

Area = Literal["side", "top"]


@dataclass(frozen=True, slots=True)
class NavItem:
    """A menu entry for a named route. Whether a viewer sees it is the route's own access rule, nothing else."""

    label: str
    route: str
    area: Area
    # Routes whose name starts with this prefix highlight the entry (e.g. "users" for users.invite).
    section: str
    order: int = 100
    # Other features' routes that belong under this entry (e.g. "certificates" under the Service Center).
    also: tuple[str, ...] = ()

    def is_current(self, route: str) -> bool:
        return route == self.route or any(route == s or route.startswith(s + ".") for s in (self.section, *self.also))


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

    def check(self, router: web.UrlDispatcher) -> None:
        """At startup: every entry names a route that exists and declares who may use it."""
        for item in self.items:
            if item.route not in router or rule_of(_handler(router, item.route)) is None:
                raise RuntimeError(f"menu entry {item.label!r} names route {item.route!r}, which has no access rule")

    def for_viewer(
        self, viewer: Viewer | None, current_route: str, router: web.UrlDispatcher
    ) -> dict[Area, list[NavLink]]:
        links: dict[Area, list[NavLink]] = {"side": [], "top": []}
        if viewer is None:
            return links
        for item in self.items:
            rule = rule_of(_handler(router, item.route))
            if rule is not None and rule.admits(viewer):
                links[item.area].append(NavLink(item.label, item.route, item.is_current(current_route)))
        return links


def _handler(router: web.UrlDispatcher, name: str) -> object:
    """The GET handler of a named resource (menu entries are links)."""
    for route in router[name]:
        if route.method == "GET":
            return route.handler
    return None
