"""SQL of the API: an account's customer, premises, panels and last signal, for staff (not customer-scoped)."""

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


async def last_signal(
    connection: Connection, customer_id: int, account: str, last_signal_at: object
) -> asyncpg.Record | None:
    """The panel's latest signal for its present customer.

    signals has no index on account (every index costs each stored signal): the panel's last_signal_at (kept by the
    receiver after commit, sql/0003) places the search at its end of the customer's index, where the first row of
    this account is found at once. NULL means nothing since the panel came to this customer.
    """
    if last_signal_at is None:
        return None
    row: asyncpg.Record | None = await connection.fetchrow(
        """SELECT received_at, panel_time, category, format, code, qualifier, description, zone, partition,
                  user_number
             FROM signals
            WHERE customer_id = $1 AND account = $2 AND received_at <= $3
            ORDER BY received_at DESC, id DESC
            LIMIT 1""",
        customer_id,
        account,
        last_signal_at,
    )
    return row


async def has_unknown_signals(connection: Connection, account: str) -> bool:
    """Whether this account has sent signals although no panel is enrolled with it (SPEC R6).

    The idempotency index starts with the account, so this is one index probe.
    """
    found: bool = await connection.fetchval("SELECT EXISTS (SELECT 1 FROM signals WHERE account = $1)", account)
    return found
