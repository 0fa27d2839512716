"""SQL of the API's incidents: a page of open or closed ones, one by id, and its signals with their roles (the audit
trail is shared.incidents.incident_page's actions_of)."""

from __future__ import annotations

from datetime import datetime
from typing import Final

import asyncpg

from portal.api.queries import SIGNAL_COLUMNS
from shared.db import Connection

_INCIDENT: Final = """
SELECT i.id, i.kind, i.status, i.account, i.priority, i.alarm_type, i.title, i.opened_at, i.last_signal_at,
       i.signal_count, i.restored_at, i.holder_id, coalesce(nullif(h.name, ''), h.email, '') AS holder_name,
       i.taken_at, i.held_until, i.closed_at, i.closed_by,
       coalesce(nullif(cb.name, ''), cb.email, '') AS closed_by_name,
       i.disposition, i.false_alarm_cause, i.disposition_note,
       i.customer_id, c.name AS customer_name, i.site_id, s.name AS site_name, s.address AS site_address,
       i.panel_id, p.account AS panel_account
  FROM incidents i
  LEFT JOIN users h ON h.id = i.holder_id
  LEFT JOIN users cb ON cb.id = i.closed_by
  LEFT JOIN customers c ON c.id = i.customer_id
  LEFT JOIN sites s ON s.id = i.site_id
  LEFT JOIN panels p ON p.id = i.panel_id
"""

# Newest first by a time that never changes once the list holds the incident: open ones by when they opened (the
# queue's order, priority then age, moves as signals join, and a keyset over it would skip and repeat), closed
# ones by when they closed (the index incidents_closed serves that order).
SORTED_BY: Final = {"open": "opened_at", "closed": "closed_at"}
STATUSES: Final = tuple(SORTED_BY)


def _page_sql(status: str, *, keyset: bool) -> str:
    """$1 the page's size; with `keyset` $2, $3 the (sort time, id) to go past. Two statements rather than one
    with `$2 IS NULL OR …`, which a generic plan could not serve from the index."""
    column = f"i.{SORTED_BY[status]}"
    past = f" AND ({column}, i.id) < ($2, $3)" if keyset else ""
    return f"{_INCIDENT} WHERE i.status = '{status}'{past} ORDER BY {column} DESC, i.id DESC LIMIT $1"


_PAGES: Final = {(status, keyset): _page_sql(status, keyset=keyset) for status in STATUSES for keyset in (False, True)}


async def incidents_page(
    connection: Connection, status: str, start: tuple[datetime, int] | None, rows: int
) -> list[asyncpg.Record]:
    """Up to `rows` incidents of `status` newest first, strictly past `start` (its sort time and id) when given."""
    found: list[asyncpg.Record] = await connection.fetch(
        _PAGES[status, start is not None], rows, *(start if start is not None else ())
    )
    return found


async def incident_by_id(connection: Connection, incident_id: int) -> asyncpg.Record | None:
    row: asyncpg.Record | None = await connection.fetchrow(f"{_INCIDENT} WHERE i.id = $1", incident_id)
    return row


async def timeline_of(connection: Connection, incident_id: int) -> list[asyncpg.Record]:
    """The incident's signals, oldest first, each with its role (opened, joined, restore), in the columns of the
    signals list (shared.incidents.incident_page.signals_of reads them as the page words them, which drops the
    format, qualifier, zone, partition, user and panel time that the API gives)."""
    columns = ", ".join(f"s.{column.strip()}" for column in SIGNAL_COLUMNS.split(","))
    rows: list[asyncpg.Record] = await connection.fetch(
        f"SELECT {columns}, x.role, x.incident_id FROM incident_signals x JOIN signals s ON s.id = x.signal_id "
        "WHERE x.incident_id = $1 ORDER BY s.received_at, s.id",
        incident_id,
    )
    return rows
