"""Login rows that several features write (a customer's owner), and the housekeeping of the login tables."""

from __future__ import annotations

from shared.db import Connection

# Kept a while after they end, for the odd question "was I logged in last week?"; then they go.
KEEP_ENDED_DAYS = 30
KEEP_FAILURES_HOURS = 24


async def prune_login_records(connection: Connection) -> dict[str, int]:
    """Delete sessions and links that ended long ago and failed attempts no window still counts; idempotent."""
    deleted: dict[str, int] = {}
    for table, condition in (
        ("user_sessions", "coalesce(revoked_at, expires_at) < now() - make_interval(days => $1)"),
        ("user_tokens", "coalesce(used_at, expires_at) < now() - make_interval(days => $1)"),
    ):
        status = await connection.execute(f"DELETE FROM {table} WHERE {condition}", KEEP_ENDED_DAYS)
        deleted[table] = int(status.rsplit(maxsplit=1)[-1])
    status = await connection.execute(
        "DELETE FROM auth_failures WHERE failed_at < now() - make_interval(hours => $1)", KEEP_FAILURES_HOURS
    )
    deleted["auth_failures"] = int(status.rsplit(maxsplit=1)[-1])
    return deleted


async def insert_owner(
    connection: Connection, *, customer_id: int, email: str, name: str, password_hash: str | None
) -> int:
    """A customer's owner login (enrolment by staff, or registration online); one per customer (unique index).

    password_changed_at is set when a password is: a reset link issued before it no longer works.
    """
    user_id: int = await connection.fetchval(
        "INSERT INTO users (customer_id, email, name, role, password_hash, password_changed_at) "
        "VALUES ($1, $2, $3, 'owner', $4, CASE WHEN $4::text IS NULL THEN NULL ELSE now() END) RETURNING id",
        customer_id,
        email,
        name,
        password_hash,
    )
    return user_id
