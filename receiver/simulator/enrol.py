"""Enrols the simulator's panels (one customer, one site, N panels) so their signals are attributed and keyed."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import asyncpg

from receiver.simulator.traffic import VirtualPanel
from shared.db import Connection

SIMULATOR_EMAIL = "simulator@alarmhub.invalid"

_ENSURE_CUSTOMER = """
WITH existing AS (
    SELECT s.id FROM sites s JOIN customers c ON c.id = s.customer_id WHERE c.email = $1 LIMIT 1
), new_customer AS (
    INSERT INTO customers (name, email) SELECT 'Simulated panels', $1 WHERE NOT EXISTS (SELECT 1 FROM existing)
    RETURNING id
), new_site AS (
    INSERT INTO sites (customer_id, name, address) SELECT id, 'Simulator', 'Test bench' FROM new_customer
    RETURNING id
)
SELECT id FROM existing UNION ALL SELECT id FROM new_site
"""
_UPSERT_PANELS = """
INSERT INTO panels (site_id, account, dc09_key, dc09_key_format)
SELECT $1, account, key, CASE WHEN key IS NULL THEN NULL ELSE 'ascii' END
  FROM unnest($2::text[], $3::bytea[]) AS t(account, key)
ON CONFLICT (account) DO UPDATE SET dc09_key = EXCLUDED.dc09_key, dc09_key_format = EXCLUDED.dc09_key_format
 WHERE panels.dc09_key IS DISTINCT FROM EXCLUDED.dc09_key
"""


async def enrol_simulated_panels(connection: Connection, keys: dict[str, bytes | None]) -> None:
    """Make sure every account exists with exactly the given key (None: plain)."""
    async with connection.transaction():
        site_id = await connection.fetchval(_ENSURE_CUSTOMER, SIMULATOR_EMAIL)
        await connection.execute(_UPSERT_PANELS, site_id, list(keys), list(keys.values()))


async def enrol_before_sending(panels: Sequence[VirtualPanel], database_url: str | None) -> None:
    """Enrol the simulator's panels (when a database is at hand) and give receivers time to hear of them."""
    if database_url is None:
        return
    connection = await asyncpg.connect(database_url)
    try:
        await enrol_simulated_panels(connection, {panel.account: panel.key for panel in panels})
    finally:
        await connection.close()
    await asyncio.sleep(0.5)  # receivers pick up changed panels through NOTIFY
