"""The logged-in viewer; roles, permissions and the customer scope come from shared/ (one place for each)."""

from __future__ import annotations

from dataclasses import dataclass

from shared.roles import CUSTOMER_ROLES, STAFF_ROLES, Permission, Role, holds, parse_permissions
from shared.scope import CustomerScope

__all__ = [
    "CUSTOMER_ROLES",
    "STAFF_ROLES",
    "CustomerScope",
    "Permission",
    "Role",
    "Viewer",
    "parse_permissions",
]


@dataclass(frozen=True, slots=True)
class Viewer:
    """The user behind a request with a live session (or, under /api/, a live API token)."""

    user_id: int
    session_hash: bytes
    email: str
    name: str
    role: Role
    customer_id: int | None
    permissions: frozenset[Permission]
    email_confirmed: bool
    # A confirmation link is out and still valid: the page may say "open the link we sent you" only then.
    confirmation_link_sent: bool = False

    @property
    def is_customer(self) -> bool:
        return self.role in CUSTOMER_ROLES

    @property
    def is_staff(self) -> bool:
        return self.role in STAFF_ROLES

    @property
    def is_admin(self) -> bool:
        return self.role is Role.ADMIN

    @property
    def display_name(self) -> str:
        return self.name or self.email

    def may(self, permission: Permission) -> bool:
        return holds(self.role, self.permissions, permission)
