"""SQL of the accounts feature: logins by e-mail, claiming a customer's owner login, passwords, confirmation."""

from __future__ import annotations

import asyncpg

from shared.db import Connection
from shared.errors import Conflict, NotFound
from shared.users import insert_owner


async def login_by_email(connection: Connection, email: str) -> asyncpg.Record | None:
    row: asyncpg.Record | None = await connection.fetchrow(
        "SELECT id, email, name, role, customer_id, password_hash FROM users WHERE lower(email) = lower($1)", email
    )
    return row


async def customer_of_account(connection: Connection, account: str) -> int | None:
    """The customer whose panel has this monitoring account number."""
    customer_id: int | None = await connection.fetchval(
        "SELECT s.customer_id FROM panels p JOIN sites s ON s.id = p.site_id WHERE p.account = $1", account
    )
    return customer_id


async def claim_owner_login(
    connection: Connection, *, customer_id: int, name: str, email: str, password_hash: str
) -> int:
    """Give the customer's owner login its e-mail and password (staff may have enrolled it without a password).

    Call inside a transaction: the owner row is locked, so two registrations for one account cannot both win.
    """
    owner = await connection.fetchrow(
        "SELECT id, email, password_hash FROM users WHERE customer_id = $1 AND role = 'owner' FOR UPDATE",
        customer_id,
    )
    if owner is not None and owner["password_hash"] is not None:
        raise Conflict("this account is registered already: log in, or use “Forgot password”", field="account")
    taken = await connection.fetchval(
        "SELECT 1 FROM users WHERE lower(email) = lower($1) AND id IS DISTINCT FROM $2",
        email,
        owner["id"] if owner else None,
    )
    if taken:
        raise Conflict("this e-mail address already has a login: log in, or use another address", field="email")
    try:
        if owner is None:
            return await insert_owner(
                connection, customer_id=customer_id, email=email, name=name, password_hash=password_hash
            )
        await connection.execute(
            "UPDATE users SET email = $2, name = $3, password_hash = $4, password_changed_at = now(), "
            "email_confirmed_at = NULL WHERE id = $1",
            owner["id"],
            email,
            name,
            password_hash,
        )
    except asyncpg.UniqueViolationError:
        raise Conflict("this account or e-mail address was registered a moment ago", field="email") from None
    return int(owner["id"])


async def set_password(connection: Connection, user_id: int, password_hash: str) -> None:
    await connection.execute(
        "UPDATE users SET password_hash = $2, password_changed_at = now() WHERE id = $1", user_id, password_hash
    )


async def password_hash_of(connection: Connection, user_id: int) -> str | None:
    value: str | None = await connection.fetchval("SELECT password_hash FROM users WHERE id = $1", user_id)
    return value


async def mark_email_confirmed(connection: Connection, user_id: int) -> None:
    await connection.execute(
        "UPDATE users SET email_confirmed_at = coalesce(email_confirmed_at, now()) WHERE id = $1", user_id
    )


async def profile(connection: Connection, user_id: int) -> asyncpg.Record:
    row = await connection.fetchrow(
        """SELECT u.email, u.name, u.role, u.email_confirmed_at, u.password_changed_at, c.name AS customer_name
             FROM users u LEFT JOIN customers c ON c.id = u.customer_id
            WHERE u.id = $1""",
        user_id,
    )
    if row is None:
        raise NotFound("there is no such user")
    return row
