"""Roles, permissions, the logged-in viewer and the customer scope every customer query takes."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Role(StrEnum):
    OWNER = "owner"
    SECONDARY = "secondary"
    DISPATCHER = "dispatcher"
    ADMIN = "admin"


CUSTOMER_ROLES = frozenset({Role.OWNER, Role.SECONDARY})
STAFF_ROLES = frozenset({Role.DISPATCHER, Role.ADMIN})


class Permission(StrEnum):
    """What an owner may grant a secondary user beyond seeing the account; owners hold them all."""

    MANAGE_USERS = "manage_users"
    MANAGE_PAYMENT_METHODS = "manage_payment_methods"


@dataclass(frozen=True, slots=True)
class Viewer:
    """The user behind a request with a live session."""

    user_id: int
    session_hash: bytes
    email: str
    name: str
    role: Role
    customer_id: int | None
    permissions: frozenset[Permission]
    email_confirmed: bool

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
        if self.role is Role.OWNER:
            return True
        return self.role is Role.SECONDARY and permission in self.permissions


@dataclass(frozen=True, slots=True)
class CustomerScope:
    """The one customer whose data a request may read or change. Customer queries take it, never a bare id."""

    customer_id: int
    user_id: int


def parse_permissions(values: list[str] | None) -> frozenset[Permission]:
    known = {p.value for p in Permission}
    return frozenset(Permission(v) for v in values or () if v in known)
