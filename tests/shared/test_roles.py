"""Roles and permissions in one place: the SQL CHECK agrees with the code, and each role holds only its own."""

from __future__ import annotations

import re

import asyncpg

from shared.roles import (
    CUSTOMER_PERMISSIONS,
    CUSTOMER_ROLES,
    STAFF_PERMISSIONS,
    STAFF_ROLES,
    Permission,
    Role,
    holds,
)


async def test_the_database_allows_exactly_the_roles_the_code_knows(db: asyncpg.Pool) -> None:
    check = await db.fetchval(
        "SELECT pg_get_constraintdef(oid) FROM pg_constraint "
        "WHERE conrelid = 'users'::regclass AND pg_get_constraintdef(oid) LIKE '%role = ANY%' "
        "AND pg_get_constraintdef(oid) NOT LIKE '%customer_id%'"
    )
    assert set(re.findall(r"'(\w+)'::text", check)) == {role.value for role in Role}
    assert set(Role) == CUSTOMER_ROLES | STAFF_ROLES and not CUSTOMER_ROLES & STAFF_ROLES


def test_owners_hold_every_customer_permission_and_secondary_users_only_what_they_were_granted() -> None:
    for permission in CUSTOMER_PERMISSIONS:
        assert holds(Role.OWNER, frozenset(), permission)
        assert not holds(Role.SECONDARY, frozenset(), permission)
        assert holds(Role.SECONDARY, frozenset({permission}), permission)


def test_staff_permissions_come_with_the_role_or_a_grant_and_never_cross_sides() -> None:
    assert holds(Role.DISPATCHER, frozenset(), Permission.TAKE_INCIDENTS)
    assert holds(Role.DISPATCHER, frozenset(), Permission.WORK_SERVICE_REQUESTS)
    assert not holds(Role.DISPATCHER, frozenset(), Permission.REFUND)
    assert holds(Role.DISPATCHER, frozenset({Permission.REFUND}), Permission.REFUND)
    assert all(holds(Role.ADMIN, frozenset(), p) for p in STAFF_PERMISSIONS)
    # A stored grant on the wrong side means nothing.
    for staff in STAFF_ROLES:
        assert not holds(staff, frozenset(CUSTOMER_PERMISSIONS), Permission.MANAGE_USERS)
    for customer in CUSTOMER_ROLES:
        assert not holds(customer, frozenset(STAFF_PERMISSIONS), Permission.REFUND)
