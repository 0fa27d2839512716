"""Reading stored signals for people: every page, the API and the worker read them here, always by CustomerScope."""

from __future__ import annotations

from datetime import datetime

import asyncpg

from shared.catalogue.presentation import SignalLine, present
from shared.db import Connection
from shared.scope import CustomerScope

# What a SignalLine needs; the index signals_customer_received (customer_id, received_at DESC, id DESC) serves it.
SIGNAL_LINE_COLUMNS = "id, received_at, account, category, qualifier, description, code, zone, partition, user_number"


async def recent_signals(connection: Connection, scope: CustomerScope, limit: int = 10) -> list[SignalLine]:
    """The customer's latest signals, newest first."""
    rows = await connection.fetch(
        f"""SELECT {SIGNAL_LINE_COLUMNS}
              FROM signals
             WHERE customer_id = $1
             ORDER BY received_at DESC, id DESC
             LIMIT $2""",
        scope.customer_id,
        limit,
    )
    return [present(row) for row in rows]


async def last_signal_of_panel(
    connection: Connection, scope: CustomerScope, account: str, last_signal_at: datetime | None
) -> asyncpg.Record | None:
    """A panel's latest signal for the customer in scope, with the panel's time as sent (for the API).

    signals has no index on account (every index costs each stored signal): the panel's last_signal_at (kept by the
    receiver after commit, sql/0003) places the search at its end of the customer's index, where the first row of
    this account is found at once. None means nothing since the panel came to this customer.
    """
    if last_signal_at is None:
        return None
    row: asyncpg.Record | None = await connection.fetchrow(
        f"""SELECT {SIGNAL_LINE_COLUMNS}, panel_time, format
              FROM signals
             WHERE customer_id = $1 AND account = $2 AND received_at <= $3
             ORDER BY received_at DESC, id DESC
             LIMIT 1""",
        scope.customer_id,
        account,
        last_signal_at,
    )
    return row
