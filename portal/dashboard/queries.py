"""SQL of the dashboard: the customer's account, premises and panels, and latest signals — all by CustomerScope."""

from __future__ import annotations

from dataclasses import dataclass, field

import asyncpg

from portal.auth.model import CustomerScope
from shared.db import Connection
from shared.errors import NotFound


@dataclass(frozen=True, slots=True)
class Premises:
    id: int
    name: str
    address: str
    panels: list[asyncpg.Record] = field(default_factory=list)


async def account_summary(connection: Connection, scope: CustomerScope) -> asyncpg.Record:
    row = await connection.fetchrow(
        "SELECT id, name, email, phone, created_at FROM customers WHERE id = $1", scope.customer_id
    )
    if row is None:
        raise NotFound("there is no such customer")
    return row


async def premises_with_panels(connection: Connection, scope: CustomerScope) -> list[Premises]:
    # last_signal_at is kept on the panel by the receiver after commit (sql/0003_panel_last_signal.sql), reset when
    # the panel or its site changes hands: looked up in signals it would need an index every insert pays for.
    rows = await connection.fetch(
        """SELECT s.id AS site_id, s.name AS site_name, s.address, p.account, p.description,
                  p.dc09_key IS NOT NULL AS encrypted, extract(epoch FROM p.test_interval) / 3600 AS test_hours,
                  p.last_signal_at
             FROM sites s LEFT JOIN panels p ON p.site_id = s.id
            WHERE s.customer_id = $1
            ORDER BY s.id, p.account""",
        scope.customer_id,
    )
    premises: dict[int, Premises] = {}
    for row in rows:
        site = premises.setdefault(row["site_id"], Premises(row["site_id"], row["site_name"], row["address"]))
        if row["account"] is not None:
            site.panels.append(row)
    return list(premises.values())
