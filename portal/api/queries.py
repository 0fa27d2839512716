"""SQL of the API: which customer and premises an account belongs to, and the signals list, for staff."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

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

    Such signals were stored without a customer: the walk is over those only (signals_customer_received, each
    month's), not over every signal of the station.
    """
    found: bool = await connection.fetchval(
        "SELECT EXISTS (SELECT 1 FROM signals WHERE customer_id IS NULL AND account = $1)", account
    )
    return found


# --- the signals list (GET /api/v1/signals) ------------------------------------------------------------------------

# signals has no btree on received_at (each index costs every stored signal; sql/0001, sql/0003), only a BRIN: a
# page is looked for in the newest WINDOWS first, each a bounded BRIN range sorted in memory, the next (wider) only
# when the last did not fill the page. A busy station fills the first; a quiet one, or a rare filter, widens.
WINDOWS = (
    timedelta(seconds=5),
    timedelta(minutes=2),
    timedelta(hours=1),
    timedelta(days=1),
    timedelta(days=31),
    timedelta(days=366),
)

SIGNAL_COLUMNS = (
    "id, account, customer_id, site_id, received_at, panel_time, category, format, code, qualifier, description, "
    "zone, partition, user_number"
)


@dataclass(frozen=True, slots=True)
class SignalFilter:
    """What the caller asked for; None is no filter. `since` is inclusive, `until` exclusive."""

    account: str | None = None
    category: str | None = None
    since: datetime | None = None
    until: datetime | None = None


def _signals_sql(wanted: SignalFilter, *, keyset: bool) -> str:
    """$1 the window's lower bound, $2 the page's size; with `keyset` $3, $4 the (received_at, id) to go past."""
    conditions = ["received_at >= $1"]
    if keyset:
        # `received_at <= $3` says again what the row comparison implies, in a form the BRIN index can use: without
        # it a page far back in time would read every block from the window's start to the end of the table.
        conditions.append("received_at <= $3 AND (received_at, id) < ($3, $4)")
    extra = 5 if keyset else 3
    for column, value in (("account", wanted.account), ("category", wanted.category)):
        if value is not None:
            conditions.append(f"{column} = ${extra}")
            extra += 1
    return (
        f"SELECT page.*, x.incident_id FROM (SELECT {SIGNAL_COLUMNS} FROM signals WHERE {' AND '.join(conditions)} "
        "ORDER BY received_at DESC, id DESC LIMIT $2) AS page "
        "LEFT JOIN incident_signals x ON x.signal_id = page.id "  # one probe of its unique index per row of the page
        "ORDER BY page.received_at DESC, page.id DESC"
    )


async def signals_page(
    connection: Connection, wanted: SignalFilter, start: tuple[datetime, int] | None, rows: int
) -> list[asyncpg.Record]:
    """Up to `rows` signals newest first, matching `wanted`, strictly older than `start` (received_at, id) when
    given (the keyset: rows stored meanwhile sort before it, so pages never repeat or skip one)."""
    if wanted.until is not None and (start is None or start[0] >= wanted.until):
        start = (wanted.until, 0)  # ids start at 1: everything received before `until`
    anchor: datetime = start[0] if start is not None else await connection.fetchval("SELECT now()")
    floor = wanted.since or datetime(1, 1, 2, tzinfo=UTC)
    values = [wanted.account, wanted.category]
    keyset = list(start) if start is not None else []
    sql = _signals_sql(wanted, keyset=start is not None)
    async with connection.transaction():
        # A wide window's sort is estimated past jit_above_cost, and compiling costs more than the sort (as
        # shared.signal_history finds for its pages).
        await connection.execute("SET LOCAL jit = off")
        for window in (*WINDOWS, None):
            lower = max(floor, anchor - window) if window is not None else floor
            found: list[asyncpg.Record] = await connection.fetch(
                sql, lower, rows, *keyset, *(value for value in values if value is not None)
            )
            if len(found) >= rows or lower == floor:
                return found
    raise AssertionError("the last window has no lower bound but the filter's")
