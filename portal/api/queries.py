"""SQL of the API: which customer and premises an account belongs to, for staff (signals: shared.signal_queries)."""

from __future__ import annotations

import asyncpg

from shared.db import Connection


async def panel_by_account(connection: Connection, account: str) -> asyncpg.Record | None:
    """The enrolled panel with this (normalised) account, with its site and customer."""
    row: asyncpg.Record | None = await connection.fetchrow(
        """SELECT p.id AS panel_id, p.last_signal_at,
                  s.id AS site_id, s.name AS site_name, s.address,
                  c.id AS customer_id, c.name AS customer_name, c.phone, c.email
             FROM panels p JOIN sites s ON s.id = p.site_id JOIN customers c ON c.id = s.customer_id
            WHERE p.account = $1""",
        account,
    )
    return row


async def panels_of_site(connection: Connection, site_id: int) -> list[asyncpg.Record]:
    """The site's panels: never the key itself, only whether there is one."""
    rows: list[asyncpg.Record] = await connection.fetch(
        """SELECT account, extract(epoch FROM test_interval)::bigint AS test_interval_seconds,
                  dc09_key IS NOT NULL AS encrypted, last_signal_at, last_seen_at
             FROM panels WHERE site_id = $1 ORDER BY account""",
        site_id,
    )
    return rows


async def has_unknown_signals(connection: Connection, account: str) -> bool:
    """Whether this account has sent signals although no panel is enrolled with it (SPEC R6).

    The idempotency index starts with the account, so this is one index probe.
    """
    found: bool = await connection.fetchval("SELECT EXISTS (SELECT 1 FROM signals WHERE account = $1)", account)
    return found
