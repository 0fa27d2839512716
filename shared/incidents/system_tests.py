"""Putting a system on test (issue 14, item 5): while a premises is on test its signals are stored and shown, but
the incident opener opens no incident for them and no alarm notification is mailed; the test ends by itself at
`ends_at`, or earlier when someone ends it.

The rows of system_tests are the audit: who asked (requested_by/requested_name), when (starts_at), for how long
(ends_at), and who ended it early (ended_by, ended_at). Rows are never deleted or moved back in time.

One active test per premises. Starting a test while one is active REPLACES it: the active row is ended now
(ended_at = now(), ended_by = the one starting the new test) and a new row runs from now for the hours asked. So
"starting again" can lengthen or shorten the test, each request stays one audit row, and the two rows meet at the
same instant (one transaction, one now()): the premises is never off test in between.

`active_test_sql` is the one predicate that says whether a premises is on test at a moment; the opener
(shared.incidents.opener) uses it to skip a site, this module and the portal use it to show the active test.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final

import asyncpg

from shared.db import Connection
from shared.errors import DomainError, Forbidden, NotFound
from shared.roles import Permission, Role, holds, parse_permissions
from shared.scope import CustomerScope

# The longest test when the caller does not pass dispatch.max_test_hours (the setting's default).
DEFAULT_MAX_HOURS: Final = 72
SITE_NOT_FOUND: Final = "That premises was not found."
NO_ACTIVE_TEST: Final = "That premises is not on test."


def active_test_sql(site_id: str = "site_id", at: str = "received_at") -> str:
    """An SQL boolean expression: whether the premises `site_id` is on test at the moment `at`.

    Both arguments are SQL expressions written by the caller's code (column names, `$n` parameters, `now()`),
    never user input. A test covers [starts_at, coalesce(ended_at, ends_at)): it starts at its start, and is over
    at its planned end or at the moment it was ended early, whichever came first. A NULL site (unknown account) is
    never on test. Served by the index system_tests_site (site_id, ends_at DESC): `at < ends_at` bounds the scan
    to the tests not yet over at `at`.

    Example (the opener): ``WHERE NOT {active_test_sql("s.site_id", "s.received_at")}``, or
    ``SELECT {active_test_sql("$1", "$2")}`` for one premises and moment.
    """
    return (
        "EXISTS (SELECT 1 FROM system_tests st"
        f" WHERE st.site_id = ({site_id}) AND st.ends_at > ({at}) AND st.starts_at <= ({at})"
        f" AND (st.ended_at IS NULL OR st.ended_at > ({at})))"
    )


@dataclass(frozen=True, slots=True)
class SystemTest:
    """One request to put a premises on test, as the customer's page shows it."""

    id: int
    site_id: int
    site_name: str
    starts_at: datetime
    ends_at: datetime  # as planned
    requested_name: str
    ended_at: datetime | None  # ended early
    ended_by_name: str
    active: bool  # on test now

    @property
    def over_at(self) -> datetime:
        """When the test stopped (or will stop): its planned end, or when it was ended early."""
        return self.ended_at if self.ended_at is not None and self.ended_at < self.ends_at else self.ends_at


_COLUMNS: Final = (
    "t.id, t.site_id, s.name AS site_name, t.starts_at, t.ends_at, t.requested_name, t.ended_at, "
    "coalesce(nullif(e.name, ''), e.email, '') AS ended_by_name, "
    "(t.starts_at <= now() AND t.ends_at > now() AND t.ended_at IS NULL) AS active"
)
_FROM: Final = "FROM system_tests t JOIN sites s ON s.id = t.site_id LEFT JOIN users e ON e.id = t.ended_by"


def _test(row: asyncpg.Record | None) -> SystemTest:
    if row is None:
        raise NotFound(NO_ACTIVE_TEST)
    return SystemTest(
        row["id"],
        row["site_id"],
        row["site_name"],
        row["starts_at"],
        row["ends_at"],
        row["requested_name"],
        row["ended_at"],
        row["ended_by_name"],
        bool(row["active"]),
    )


async def _actor_name(connection: Connection, scope: CustomerScope) -> str:
    """Who acts, as the audit names them; Forbidden unless they may put the system on test."""
    if scope.user_id is None:
        return "system"
    row = await connection.fetchrow(
        "SELECT coalesce(nullif(name, ''), email) AS name, role, permissions, customer_id FROM users WHERE id = $1",
        scope.user_id,
    )
    if row is None:
        raise Forbidden("your login does not allow putting the system on test")
    role = Role(row["role"])
    name: str = row["name"]
    if scope.by_staff and role in (Role.DISPATCHER, Role.ADMIN):
        return name
    if row["customer_id"] != scope.customer_id or not holds(
        role, parse_permissions(row["permissions"]), Permission.TEST_SYSTEM
    ):
        raise Forbidden("only the account owner, or a user the owner allows, can put the system on test")
    return name


async def _lock_site(connection: Connection, scope: CustomerScope, site_id: int) -> None:
    """The premises' row lock: starts and ends on one premises happen one at a time. NotFound for another's."""
    found = await connection.fetchval(
        "SELECT id FROM sites WHERE id = $1 AND customer_id = $2 FOR UPDATE", site_id, scope.customer_id
    )
    if found is None:
        raise NotFound(SITE_NOT_FOUND)


def check_hours(hours: object, max_hours: int = DEFAULT_MAX_HOURS) -> int:
    """The number of hours asked for, 1..max_hours; DomainError (field 'hours') otherwise."""
    try:
        value = int(str(hours).strip())
    except ValueError:
        raise DomainError("Enter a whole number of hours.", field="hours") from None
    if not 1 <= value <= max_hours:
        raise DomainError(f"Choose between 1 and {max_hours} hours.", field="hours")
    return value


async def active_test(connection: Connection, scope: CustomerScope, site_id: int) -> SystemTest | None:
    """The premises' test running now, or None."""
    row = await connection.fetchrow(
        f"SELECT {_COLUMNS} {_FROM} WHERE t.site_id = $1 AND t.customer_id = $2 "
        "AND t.ends_at > now() AND t.starts_at <= now() AND t.ended_at IS NULL ORDER BY t.starts_at DESC LIMIT 1",
        site_id,
        scope.customer_id,
    )
    return _test(row) if row is not None else None


async def active_tests(connection: Connection, scope: CustomerScope) -> list[SystemTest]:
    """The customer's tests running now, one per premises at most, by premises."""
    rows = await connection.fetch(
        f"SELECT {_COLUMNS} {_FROM} WHERE t.customer_id = $1 "
        "AND t.ends_at > now() AND t.starts_at <= now() AND t.ended_at IS NULL ORDER BY s.name, t.site_id",
        scope.customer_id,
    )
    return [_test(row) for row in rows]


async def start_test(
    connection: Connection,
    scope: CustomerScope,
    site_id: int,
    hours: int,
    *,
    max_hours: int = DEFAULT_MAX_HOURS,
) -> SystemTest:
    """Put the premises on test from now for `hours` (1..max_hours: pass dispatch.max_test_hours), by the scope's
    user (who must hold Permission.TEST_SYSTEM). An active test of the premises is replaced (ended now by this
    user), see the module's docstring. NotFound for another customer's premises."""
    hours = check_hours(hours, max_hours)
    async with connection.transaction():
        name = await _actor_name(connection, scope)
        await _lock_site(connection, scope, site_id)
        await connection.execute(
            "UPDATE system_tests SET ended_at = now(), ended_by = $3 "
            "WHERE site_id = $1 AND customer_id = $2 AND ends_at > now() AND ended_at IS NULL",
            site_id,
            scope.customer_id,
            scope.user_id,
        )
        test_id = await connection.fetchval(
            "INSERT INTO system_tests (site_id, customer_id, starts_at, ends_at, requested_by, requested_name) "
            "VALUES ($1, $2, now(), now() + $3::interval, $4, $5) RETURNING id",
            site_id,
            scope.customer_id,
            timedelta(hours=hours),
            scope.user_id,
            name,
        )
        row = await connection.fetchrow(f"SELECT {_COLUMNS} {_FROM} WHERE t.id = $1", test_id)
    return _test(row)


async def end_test(connection: Connection, scope: CustomerScope, site_id: int) -> SystemTest:
    """End the premises' active test now, by the scope's user (Permission.TEST_SYSTEM). NotFound for another
    customer's premises, or when the premises is not on test (already over or ended)."""
    async with connection.transaction():
        await _actor_name(connection, scope)
        await _lock_site(connection, scope, site_id)
        test_id = await connection.fetchval(
            "UPDATE system_tests SET ended_at = now(), ended_by = $3 "
            "WHERE site_id = $1 AND customer_id = $2 AND ends_at > now() AND starts_at <= now() "
            "AND ended_at IS NULL RETURNING id",
            site_id,
            scope.customer_id,
            scope.user_id,
        )
        if test_id is None:
            raise NotFound(NO_ACTIVE_TEST)
        row = await connection.fetchrow(f"SELECT {_COLUMNS} {_FROM} WHERE t.id = $1", test_id)
    return _test(row)


async def tests_of(connection: Connection, scope: CustomerScope, *, limit: int = 50) -> list[SystemTest]:
    """The customer's tests, every premises, newest first (the active ones among them, `active`)."""
    rows = await connection.fetch(
        f"SELECT {_COLUMNS} {_FROM} WHERE t.customer_id = $1 ORDER BY t.starts_at DESC, t.id DESC LIMIT $2",
        scope.customer_id,
        limit,
    )
    return [_test(row) for row in rows]


async def on_test(connection: Connection, site_id: int | None, at: datetime | None = None) -> bool:
    """Whether the premises is on test at `at` (now when None): `active_test_sql` for one premises."""
    if site_id is None:
        return False
    if at is None:
        return bool(await connection.fetchval(f"SELECT {active_test_sql('$1::bigint', 'now()')}", site_id))
    return bool(await connection.fetchval(f"SELECT {active_test_sql('$1::bigint', '$2::timestamptz')}", site_id, at))
