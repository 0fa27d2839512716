"""Signals written straight into the table at chosen times, of an enrolled panel or of an unknown account."""

from __future__ import annotations

import itertools
from datetime import datetime

from shared.db import Connection
from tests.portal.conftest import Customer

_SEQUENCES = itertools.count(1)


async def store(
    connection: Connection,
    account: str,
    at: datetime | None = None,
    *,
    customer: Customer | None = None,
    category: str = "alarm",
    code: str = "130",
    qualifier: str = "event",
    description: str = "Burglary alarm",
    zone: str | None = "001",
) -> int:
    """One signal received at `at` (None: now, the receiver's default), its id."""
    signal_id: int = await connection.fetchval(
        "INSERT INTO signals (account, panel_id, site_id, customer_id, transport, sequence, format, code, qualifier, "
        "zone, category, priority, description, raw_frame, received_at) "
        "VALUES ($1, $2, $3, $4, 'tcp', $5, 'ADM-CID', $6, $7, $8, $9, 3, $10, '\\x00', coalesce($11, now())) "
        "RETURNING id",
        account,
        customer.panel_id if customer else None,
        customer.site_id if customer else None,
        customer.customer_id if customer else None,
        f"{next(_SEQUENCES) % 10000:04d}",
        code,
        qualifier,
        zone,
        category,
        description,
        at,
    )
    return signal_id
