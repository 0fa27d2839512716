"""SQL of the console page: the latest signals it opens with (the websocket carries the rest)."""

from __future__ import annotations

import asyncpg

from shared.db import Connection

# The newest signals by id (each month's primary key index, merged: no sort of the table), the alarms among a
# bounded window of them so that a quiet station never scans its whole history for alarms it does not have.
_LATEST = """
SELECT id, xact, account, panel_id, site_id, customer_id, transport, sequence, received_at, code, qualifier, zone,
       partition, user_number, category, alarm_type, priority, description
  FROM signals
 ORDER BY id DESC
 LIMIT $1
"""
_LATEST_ALARMS = """
SELECT * FROM (
    SELECT id, xact, account, panel_id, site_id, customer_id, transport, sequence, received_at, code, qualifier,
           zone, partition, user_number, category, alarm_type, priority, description
      FROM signals
     ORDER BY id DESC
     LIMIT $2
) AS recent
 WHERE category = 'alarm'
 ORDER BY id DESC
 LIMIT $1
"""


async def latest_signals(connection: Connection, limit: int) -> list[asyncpg.Record]:
    rows: list[asyncpg.Record] = await connection.fetch(_LATEST, limit)
    return rows


async def latest_alarms(connection: Connection, limit: int, window: int = 5000) -> list[asyncpg.Record]:
    rows: list[asyncpg.Record] = await connection.fetch(_LATEST_ALARMS, limit, window)
    return rows
