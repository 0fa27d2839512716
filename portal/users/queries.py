"""SQL of the users feature (C8): a customer's logins, always within the CustomerScope."""

from __future__ import annotations

import asyncpg

from portal.auth.model import CustomerScope, Permission
from shared.db import Connection
from shared.errors import Conflict, NotFound


async def customer_users(connection: Connection, scope: CustomerScope) -> list[asyncpg.Record]:
    rows: list[asyncpg.Record] = await connection.fetch(
        """SELECT u.id, u.email, u.name, u.role, u.permissions, u.created_at,
                  u.password_hash IS NOT NULL AS active, u.email_confirmed_at,
                  (SELECT max(t.expires_at) FROM user_tokens t
                    WHERE t.user_id = u.id AND t.purpose = 'invitation' AND t.used_at IS NULL) AS invitation_expires_at
             FROM users u
            WHERE u.customer_id = $1
            ORDER BY u.role = 'owner' DESC, lower(u.name), lower(u.email)""",
        scope.customer_id,
    )
    return rows


async def customer_name(connection: Connection, scope: CustomerScope) -> str:
    name: str = await connection.fetchval("SELECT name FROM customers WHERE id = $1", scope.customer_id)
    return name


async def secondary_user(connection: Connection, scope: CustomerScope, user_id: int) -> asyncpg.Record:
    """A secondary user of this customer, locked for the change; anyone else's id is simply not found."""
    row: asyncpg.Record | None = await connection.fetchrow(
        "SELECT id, email, name, permissions, password_hash IS NOT NULL AS active FROM users "
        "WHERE id = $1 AND customer_id = $2 AND role = 'secondary' FOR UPDATE",
        user_id,
        scope.customer_id,
    )
    if row is None:
        raise NotFound("there is no such user on your account")
    return row


async def add_secondary_user(
    connection: Connection,
    scope: CustomerScope,
    *,
    email: str,
    name: str,
    permissions: frozenset[Permission],
) -> int:
    if await connection.fetchval("SELECT 1 FROM users WHERE lower(email) = lower($1)", email):
        raise Conflict("this e-mail address already has a login", field="email")
    try:
        user_id: int = await connection.fetchval(
            "INSERT INTO users (customer_id, email, name, role, permissions, invited_by) "
            "VALUES ($1, $2, $3, 'secondary', $4, $5) RETURNING id",
            scope.customer_id,
            email,
            name,
            sorted(permissions),
            scope.user_id,
        )
    except asyncpg.UniqueViolationError:
        raise Conflict("this e-mail address already has a login", field="email") from None
    return user_id


async def set_permissions(
    connection: Connection, scope: CustomerScope, user_id: int, permissions: frozenset[Permission]
) -> None:
    await connection.execute(
        "UPDATE users SET permissions = $3 WHERE id = $1 AND customer_id = $2 AND role = 'secondary'",
        user_id,
        scope.customer_id,
        sorted(permissions),
    )


async def remove_user(connection: Connection, scope: CustomerScope, user_id: int) -> None:
    """Deleting the row ends the user's sessions and links with it (ON DELETE CASCADE) and cancels the mail
    still waiting for them, an invitation included (a trigger, migration 0013)."""
    await connection.execute(
        "DELETE FROM users WHERE id = $1 AND customer_id = $2 AND role = 'secondary'", user_id, scope.customer_id
    )


async def accept_invitation(connection: Connection, user_id: int, name: str, password_hash: str) -> None:
    await connection.execute(
        "UPDATE users SET name = $2, password_hash = $3, password_changed_at = now(), "
        "email_confirmed_at = coalesce(email_confirmed_at, now()) WHERE id = $1",
        user_id,
        name,
        password_hash,
    )
