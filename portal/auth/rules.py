"""Access rules: who may use a route, a menu entry or a dashboard tab — declared where each is defined."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from typing import Any, TypeVar

from portal.auth.model import Permission, Viewer

H = TypeVar("H", bound=Callable[..., Any])
_ATTRIBUTE = "__portal_access__"


class Access(Enum):
    PUBLIC = "anyone, logged in or not"
    USER = "any logged-in user"
    CUSTOMER = "an owner or secondary user of a customer"
    STAFF = "a dispatcher or an admin"
    ADMIN = "an admin"


@dataclass(frozen=True, slots=True)
class Rule:
    """Who may use a route, a menu entry or a dashboard tab: a level and, optionally, a permission."""

    access: Access
    permission: Permission | None = None

    def admits(self, viewer: Viewer | None) -> bool:
        """The one decision behind routes, menus and tabs."""
        if self.access is Access.PUBLIC:
            return True
        if viewer is None:
            return False
        if self.access is Access.CUSTOMER and not viewer.is_customer:
            return False
        if self.access is Access.STAFF and not viewer.is_staff:
            return False
        if self.access is Access.ADMIN and not viewer.is_admin:
            return False
        return self.permission is None or viewer.may(self.permission)


def access(level: Access, permission: Permission | None = None) -> Callable[[H], H]:
    """Declare who may call a handler; the access middleware enforces it."""

    def mark(handler: H) -> H:
        setattr(handler, _ATTRIBUTE, Rule(level, permission))
        return handler

    return mark


def rule_of(handler: object) -> Rule | None:
    rule = getattr(handler, _ATTRIBUTE, None)
    return rule if isinstance(rule, Rule) else None
