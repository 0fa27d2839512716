"""Login-table housekeeping: long-ended sessions and links and stale failures go; live ones stay."""

from __future__ import annotations

import asyncpg

from shared.users import prune_login_records


async def test_prune_keeps_live_records_and_removes_long_ended_ones(db: asyncpg.Pool) -> None:
    async with db.acquire() as connection:
        user_id = await connection.fetchval(
            "INSERT INTO users (email, role, password_hash) VALUES ('d@example.com', 'dispatcher', 'x') RETURNING id"
        )
        await connection.execute(
            "INSERT INTO user_sessions (user_id, token_hash, expires_at, revoked_at) VALUES "
            "($1, 'a', now() + interval '1 hour', NULL), "
            "($1, 'b', now() - interval '40 days', NULL), "
            "($1, 'c', now() + interval '1 hour', now() - interval '31 days'), "
            "($1, 'd', now() + interval '1 hour', now() - interval '1 day')",
            user_id,
        )
        await connection.execute(
            "INSERT INTO user_tokens (user_id, purpose, token_hash, expires_at, used_at) VALUES "
            "($1, 'reset_password', 'a', now() + interval '1 hour', NULL), "
            "($1, 'reset_password', 'b', now() - interval '31 days', NULL)",
            user_id,
        )
        await connection.execute(
            "INSERT INTO auth_failures (action, scope, subject, failed_at) VALUES "
            "('login', 'address', '1.2.3.4', now()), ('login', 'address', '1.2.3.4', now() - interval '2 days')"
        )
        assert await prune_login_records(connection) == {"user_sessions": 2, "user_tokens": 1, "auth_failures": 1}
        assert await prune_login_records(connection) == {"user_sessions": 0, "user_tokens": 0, "auth_failures": 0}
        assert await connection.fetchval("SELECT count(*) FROM user_sessions") == 2
