"""Who of a customer's users is e-mailed about what (issue 14, item 5): alarms, power loss, failure to communicate.

The owner chooses, per user of the account (themselves and their secondary users), which categories
(shared.incidents.model.NotificationCategory) each receives; alarm_notifications holds one row per user and
category chosen. The incident opener (shared.incidents.opener) asks `recipients` in its own transaction and
queues the mails (shared.incidents.notices) there, so a mail goes out exactly when its incident commits.

Only users whose e-mail address is confirmed are mailed: an address nobody has proven to own must not learn
that a premises is in alarm. The page shows the others as waiting for that confirmation.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final

import asyncpg

from shared.db import Connection
from shared.errors import DomainError, Forbidden, NotFound
from shared.incidents.model import NotificationCategory
from shared.roles import Role

USER_NOT_FOUND: Final = "That user was not found in this account."
ONLY_THE_OWNER: Final = "Only the account's owner chooses who is notified."
UNKNOWN_CATEGORY: Final = "Choose among alarms, power loss and failure to communicate."


@dataclass(frozen=True, slots=True)
class Subscriber:
    """One user of the account and the categories they are e-mailed about."""

    user_id: int
    name: str
    email: str
    role: Role
    confirmed: bool  # e-mail address confirmed: only then is anything mailed
    categories: frozenset[NotificationCategory]


@dataclass(frozen=True, slots=True)
class Recipient:
    """Someone to mail about one category now."""

    user_id: int
    name: str
    email: str


# Owner first, then the secondary users by name (then address), as the users page lists them.
_PREFERENCES: Final = """
    SELECT u.id, u.name, u.email, u.role, u.email_confirmed_at IS NOT NULL AS confirmed,
           coalesce(array_agg(n.category ORDER BY n.category) FILTER (WHERE n.category IS NOT NULL), '{}')
               AS categories
      FROM users u
      LEFT JOIN alarm_notifications n ON n.user_id = u.id AND n.customer_id = u.customer_id
     WHERE u.customer_id = $1 AND ($2::bigint IS NULL OR u.id = $2)
     GROUP BY u.id
     ORDER BY u.role <> 'owner', lower(u.name), lower(u.email), u.id
"""

_RECIPIENTS: Final = """
    SELECT u.id, u.name, u.email
      FROM alarm_notifications n
      JOIN users u ON u.id = n.user_id AND u.customer_id = n.customer_id
     WHERE n.customer_id = $1 AND n.category = $2 AND u.email_confirmed_at IS NOT NULL
     ORDER BY u.role <> 'owner', u.id
"""


def _subscriber(row: asyncpg.Record) -> Subscriber:
    return Subscriber(
        user_id=row["id"],
        name=row["name"],
        email=row["email"],
        role=Role(row["role"]),
        confirmed=row["confirmed"],
        categories=frozenset(NotificationCategory(c) for c in row["categories"]),
    )


def parse_categories(categories: Iterable[str]) -> frozenset[NotificationCategory]:
    """The categories named (form values or enum members); DomainError (field "categories") on an unknown one."""
    chosen: set[NotificationCategory] = set()
    for category in categories:
        try:
            chosen.add(NotificationCategory(category))
        except ValueError:
            raise DomainError(UNKNOWN_CATEGORY, field="categories") from None
    return frozenset(chosen)


async def preferences_of(connection: Connection, customer_id: int) -> list[Subscriber]:
    """Every user of the customer (owner first) with the categories they receive (empty: none)."""
    rows = await connection.fetch(_PREFERENCES, customer_id, None)
    return [_subscriber(row) for row in rows]


async def set_preferences(
    connection: Connection,
    customer_id: int,
    user_id: int,
    categories: Iterable[str],
    by: int | None,
) -> Subscriber:
    """Set the categories `user_id` (a user of `customer_id`) is e-mailed about, replacing their previous choice.

    `by` is the user acting: it must be the customer's owner (None: the system itself, e.g. staff tooling or a
    test). Forbidden otherwise; NotFound when the user is not the customer's; DomainError on an unknown category.
    One transaction: the user's rows are replaced together.
    """
    chosen = parse_categories(categories)
    async with connection.transaction():
        if by is not None:
            is_owner = await connection.fetchval(
                "SELECT EXISTS (SELECT 1 FROM users WHERE id = $1 AND customer_id = $2 AND role = 'owner')",
                by,
                customer_id,
            )
            if not is_owner:
                raise Forbidden(ONLY_THE_OWNER)
        # Locks the user's row: two owners' tabs saving at once apply one after the other, not interleaved.
        found = await connection.fetchval(
            "SELECT id FROM users WHERE id = $1 AND customer_id = $2 FOR UPDATE", user_id, customer_id
        )
        if found is None:
            raise NotFound(USER_NOT_FOUND)
        await connection.execute("DELETE FROM alarm_notifications WHERE user_id = $1", user_id)
        if chosen:
            await connection.execute(
                "INSERT INTO alarm_notifications (user_id, customer_id, category) SELECT $1, $2, unnest($3::text[])",
                user_id,
                customer_id,
                sorted(chosen),
            )
        row = await connection.fetchrow(_PREFERENCES, customer_id, user_id)
    assert row is not None  # locked above
    return _subscriber(row)


async def recipients(connection: Connection, customer_id: int, category: NotificationCategory | str) -> list[Recipient]:
    """The customer's users to e-mail about `category` now (confirmed addresses only), owner first."""
    rows = await connection.fetch(_RECIPIENTS, customer_id, NotificationCategory(category).value)
    return [Recipient(row["id"], row["name"], row["email"]) for row in rows]
