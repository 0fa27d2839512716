"""Roles and permissions, in one place: who a login is, and what each role may do beyond its pages.

The SQL CHECK on users.role (sql/0001_core.sql) lists the same roles; a test compares the two.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from enum import StrEnum
from types import MappingProxyType
from typing import Final


class Role(StrEnum):
    OWNER = "owner"
    SECONDARY = "secondary"
    DISPATCHER = "dispatcher"
    ADMIN = "admin"


CUSTOMER_ROLES: Final = frozenset({Role.OWNER, Role.SECONDARY})
STAFF_ROLES: Final = frozenset({Role.DISPATCHER, Role.ADMIN})


class Permission(StrEnum):
    """What a login may do beyond seeing its pages.

    Customer permissions are what an owner may grant a secondary user (owners hold them all); staff permissions
    come with the staff role (see STAFF_ROLE_PERMISSIONS) and may be granted to a staff login one by one.
    """

    # customer side
    MANAGE_USERS = "manage_users"
    MANAGE_PAYMENT_METHODS = "manage_payment_methods"
    MANAGE_CALL_LIST = "manage_call_list"
    TEST_SYSTEM = "test_system"  # put the premises' system on test (no incidents while it lasts)
    # staff side
    TAKE_INCIDENTS = "take_incidents"
    WORK_SERVICE_REQUESTS = "work_service_requests"
    REFUND = "refund"


CUSTOMER_PERMISSIONS: Final = frozenset(
    {Permission.MANAGE_USERS, Permission.MANAGE_PAYMENT_METHODS, Permission.MANAGE_CALL_LIST, Permission.TEST_SYSTEM}
)
STAFF_PERMISSIONS: Final = frozenset(Permission) - CUSTOMER_PERMISSIONS

# What each staff role may do without a grant. Admins hold every staff permission; dispatchers work alarms and
# service requests but do not move money.
STAFF_ROLE_PERMISSIONS: Final[Mapping[Role, frozenset[Permission]]] = MappingProxyType(
    {
        Role.DISPATCHER: frozenset({Permission.TAKE_INCIDENTS, Permission.WORK_SERVICE_REQUESTS}),
        Role.ADMIN: STAFF_PERMISSIONS,
    }
)


def parse_permissions(values: Iterable[str] | None) -> frozenset[Permission]:
    """Stored permission names, ignoring any this version no longer knows."""
    known = {p.value for p in Permission}
    return frozenset(Permission(v) for v in values or () if v in known)


def holds(role: Role, granted: frozenset[Permission], permission: Permission) -> bool:
    """Whether a login of `role` with `granted` permissions may do `permission`.

    Customer permissions never apply to staff, and staff permissions never to customers, whatever is stored.
    """
    if role in CUSTOMER_ROLES:
        if permission not in CUSTOMER_PERMISSIONS:
            return False
        return role is Role.OWNER or permission in granted
    if permission not in STAFF_PERMISSIONS:
        return False
    return permission in STAFF_ROLE_PERMISSIONS[role] or permission in granted
