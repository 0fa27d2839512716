"""Reading stored signals for people: every page, the API and the worker read them here, always by CustomerScope."""

from __future__ import annotations

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
