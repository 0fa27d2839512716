"""Housekeeping of the login tables: ended sessions, spent links and old failed attempts do not pile up."""

from __future__ import annotations

import asyncpg

# Kept a while after they end, for the odd question "was I logged in last week?"; then they go.
KEEP_ENDED_DAYS = 30
KEEP_FAILURES_HOURS = 24


async def prune_login_records(connection: asyncpg.Connection) -> dict[str, int]:
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
