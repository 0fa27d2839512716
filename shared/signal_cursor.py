"""Following signals without gaps or repeats: SignalCursor, signals_after() and a SignalFollower on a Listener.

Why (xact, id) and not id: ids are taken when rows are written and become visible when their transaction
commits, in another order when writers commit concurrently. sql/0012_signal_cursor.sql gives each row its
writing transaction's id; a reader takes only rows whose transaction is older than its snapshot's xmin (all such
transactions have ended, and any transaction yet to commit has an id at or above it), in (xact, id) order, and
resumes after the last (xact, id) it has read. What commits later always sorts after that.

What delays delivery (never order): an open transaction that holds a transaction id, anywhere on the server (any
database, any table, a prepared transaction too), holds xmin back; rows committed after it began wait behind it.
A page says so (`held_back`), and the follower checks again every `recheck` seconds until they go.
"""

from __future__ import annotations

import re
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

import asyncpg

from shared.db import Connection
from shared.events import SIGNALS, Listener, SignalsCommitted
from shared.logs import get_logger

log = get_logger(__name__)

_BIGINT_MAX = 2**63 - 1
_TEXT = re.compile(r"(?P<xact>\d{1,19})-(?P<id>\d{1,19})")


@dataclass(frozen=True, slots=True, order=True)
class SignalCursor:
    """A position in the signals: every row at or before (xact, id), in that order, has been read.

    As text `"<xact>-<id>"`, for a console or an API to hand back later; parse() reads it.
    """

    xact: int
    id: int

    def __str__(self) -> str:
        return f"{self.xact}-{self.id}"

    @classmethod
    def parse(cls, text: str) -> SignalCursor:
        match = _TEXT.fullmatch(text.strip())
        if match is None:
            raise ValueError(f"not a signal cursor: {text[:40]!r}")
        cursor = cls(int(match["xact"]), int(match["id"]))
        if cursor.xact > _BIGINT_MAX or cursor.id > _BIGINT_MAX:
            raise ValueError(f"signal cursor out of range: {text[:40]!r}")
        return cursor

    @classmethod
    def beginning(cls) -> SignalCursor:
        """Before every row that has a transaction id (rows stored before migration 0012 have none)."""
        return cls(0, 0)


class CursorAhead(ValueError):
    """The cursor is ahead of this server's transaction counter: it was taken on another cluster."""


@dataclass(frozen=True, slots=True)
class SignalPage:
    """Rows after a cursor, the cursor after them, and whether committed rows are waiting behind an older one."""

    rows: list[asyncpg.Record]
    cursor: SignalCursor
    held_back: bool


# Everything but the raw frame (bytes a console never shows; read it by id when needed).
_COLUMNS = """id, xact, account, panel_id, site_id, customer_id, transport, remote_addr, receiver, line, sequence,
              panel_time, received_at, event_index, format, code, qualifier, zone, partition, user_number, category,
              alarm_type, priority, description, extended"""

# One statement, so one snapshot: the horizon is the xmin of the very snapshot the rows are read with (read from
# another snapshot it could let through a row this one cannot see). The page reads the window [$1, $4) of
# transaction ids below the horizon: `xact >= $1` with $1 a value lets the planner see how few rows lie past it
# and take the BRIN index (a bound known only while the statement runs, like xmin, would be estimated as a third
# of the table: a sequential scan). The held-back check is made only when the window reaches the horizon, from
# $5, the horizon an earlier window of the same call saw (else the cursor), for the same reason.
# The LEFT JOIN keeps one row when the page is empty, to carry the horizon.
_AFTER = f"""
WITH horizon AS MATERIALIZED (  -- evaluated once, not per row of the page
    SELECT x.xmin, x.xmax,
           $4 >= x.xmin AND EXISTS (SELECT 1 FROM signals WHERE xact >= $5 AND xact >= x.xmin) AS held_back
      FROM (SELECT pg_snapshot_xmin(s)::text::bigint AS xmin, pg_snapshot_xmax(s)::text::bigint AS xmax
              FROM pg_current_snapshot() AS s) AS x
)
SELECT h.xmin AS horizon_, h.xmax AS next_xact_, h.held_back AS held_back_, page.*
  FROM horizon h
  LEFT JOIN LATERAL (
      SELECT {_COLUMNS}
        FROM signals
       WHERE xact >= $1 AND xact < least(h.xmin, $4) AND (xact, id) > ($1, $2)
       ORDER BY xact, id
       LIMIT $3
  ) AS page ON true
"""

# How many transaction ids the first window spans, and how much a window that came back short grows. A reader
# near the end reads in one or two statements; one far behind reads its backlog window by window (a batch of the
# receiver is one transaction of up to batch_max_size rows), instead of sorting all of it again for every page.
_FIRST_WINDOW = 64
_WINDOW_GROWTH = 8


async def cursor_now(connection: Connection) -> SignalCursor:
    """A cursor before every signal not yet committed now (and perhaps a few just committed: never fewer)."""
    xmin: int = await connection.fetchval("SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint")
    return SignalCursor(xmin, 0)


async def signals_after(connection: Connection, cursor: SignalCursor, limit: int = 500) -> SignalPage:
    """Up to `limit` signals after `cursor` in (xact, id) order, each exactly once across successive calls.

    Call it outside a transaction that has written anything (its own id would hold the horizon back). The next
    cursor moves past everything already final even when no row came back, so the index scan stays short. A full
    page says nothing of held-back rows: read on.
    """
    if limit < 1:
        raise ValueError("limit must be at least 1")
    async with connection.transaction():
        # Planned for its values every time: a cached generic plan cannot see that `xact >= $1` is the table's
        # end and scans all of it (from the sixth call on a connection: 2 ms became 65 ms on 400,000 rows).
        await connection.execute("SET LOCAL plan_cache_mode = force_custom_plan")
        return await _read_windows(connection, cursor, limit)


async def _read_windows(connection: Connection, cursor: SignalCursor, limit: int) -> SignalPage:
    rows: list[asyncpg.Record] = []
    window = _FIRST_WINDOW
    seen_horizon = cursor.xact  # a floor for the held-back check that the planner can see is near the end
    while True:
        upto = min(cursor.xact + window, _BIGINT_MAX)
        result = await connection.fetch(_AFTER, cursor.xact, cursor.id, limit - len(rows), upto, seen_horizon)
        first = result[0]
        if cursor.xact > first["next_xact_"]:
            raise CursorAhead(f"signal cursor {cursor} is ahead of this server's transactions ({first['next_xact_']})")
        page = [row for row in result if row["id"] is not None]
        rows += page
        if len(rows) == limit:
            return SignalPage(rows, SignalCursor(rows[-1]["xact"], rows[-1]["id"]), False)
        # Every final row of the window is in `rows`: the next one is at or past its end (or the horizon).
        reached = min(first["horizon_"], upto)
        cursor = max(cursor, SignalCursor(reached, 0))
        if upto >= first["horizon_"]:
            return SignalPage(rows, cursor, bool(first["held_back_"]))
        seen_horizon = first["horizon_"]
        window *= _WINDOW_GROWTH


# Whether any row is visible after a cursor below a bound of transaction ids, final or held back: it stops at the
# first row it finds. Then the first row of the one transaction id found to come first, read as the range [$1, $1 + 1)
# and sorted: with `xact = $1` the planner walks the primary key in id order, filtering (0.5 s at 3 M rows).
_ANY_BEFORE = "SELECT EXISTS (SELECT FROM signals WHERE xact >= $1 AND xact < $3 AND (xact, id) > ($1, $2))"
_FIRST_OF = """
SELECT received_at FROM signals
 WHERE xact >= $1 AND xact < $1 + 1 AND (xact, id) > ($1, $2)
 ORDER BY xact, id
 LIMIT 1
"""


async def next_committed_after(connection: Connection, cursor: SignalCursor) -> datetime | None:
    """When the next signal committed after `cursor` (in commit order, among those committed now) was received,
    whether final or still held back behind an older open transaction (signals_after returns only final rows); None
    when there is none. Every final row sorts before every held-back one, so the first row visible after the cursor
    in (xact, id) order is the one a follower takes up next. Found in one snapshot by probes that stop at the first
    row they meet — windows of transaction ids from the cursor, each twice the last, until one holds a row, then
    halving that window down to the first transaction id that holds one — so a backlog's size does not matter, only
    (logarithmically) its distance in transaction ids. Raises CursorAhead as signals_after does."""
    async with connection.transaction(isolation="repeatable_read", readonly=True):
        await connection.execute("SET LOCAL plan_cache_mode = force_custom_plan")  # `xact >= $1`: the BRIN index
        end: int = await connection.fetchval("SELECT pg_snapshot_xmax(pg_current_snapshot())::text::bigint")
        if cursor.xact > end:
            raise CursorAhead(f"signal cursor {cursor} is ahead of this server's transactions ({end})")

        async def any_before(bound: int) -> bool:
            found: bool = await connection.fetchval(_ANY_BEFORE, cursor.xact, cursor.id, bound)
            return found

        below, window = cursor.xact, _FIRST_WINDOW  # no row after the cursor has an xact below `below`
        while not await any_before(upto := min(cursor.xact + window, _BIGINT_MAX)):
            if upto >= end:
                return None
            below, window = upto, window * 2
        while upto - below > 1:  # a row lies in [below, upto): narrow to the first xact holding one
            middle = (below + upto) // 2
            if await any_before(middle):
                upto = middle
            else:
                below = middle
        received: datetime | None = await connection.fetchval(
            _FIRST_OF, below, cursor.id if below == cursor.xact else 0
        )
        return received


Deliver = Callable[[Sequence[asyncpg.Record], SignalCursor], Awaitable[None]]


class SignalFollower:
    """Hands every committed signal after its cursor to `deliver(rows, cursor_after_them)`, once, in order.

    It reads when the signals channel says a batch committed, after every (re)connect of its listener, and, while
    rows are held back, every `recheck` seconds, so held-back rows go out within that time once the transaction
    holding them ends, whether or not that transaction notifies. The cursor advances only after `deliver`
    returns: a failing `deliver` makes the listener start over from the last delivered position.
    """

    def __init__(
        self,
        listener: Listener,
        deliver: Deliver,
        cursor: SignalCursor | None = None,
        *,
        page_size: int = 500,
        recheck: float = 0.25,
    ) -> None:
        self.listener = listener
        self.deliver = deliver
        self.cursor = cursor  # None: from now, fixed when the listener first connects
        self.page_size = page_size
        self.recheck = recheck
        self._held_since: float | None = None
        listener.on(SIGNALS, self._committed)
        listener.on_connect(self.catch_up)

    async def _committed(self, _connection: asyncpg.Connection, _event: SignalsCommitted) -> None:
        # Every notice queued by now is handled before the read runs: a burst of batches costs one read.
        self.listener.schedule(self.catch_up, 0.0)

    async def catch_up(self, connection: asyncpg.Connection) -> None:
        """Deliver everything final after the cursor; schedule a re-check while rows are held back."""
        if self.cursor is None:
            self.cursor = await cursor_now(connection)
            log.info("following signals from now", cursor=str(self.cursor))
        while True:
            page = await signals_after(connection, self.cursor, self.page_size)
            if page.rows:
                await self.deliver(page.rows, page.cursor)
            self.cursor = page.cursor
            if len(page.rows) < self.page_size:
                break
        if page.held_back:
            if self._held_since is None:
                self._held_since = time.monotonic()
                log.info("signals held back behind an older open transaction", cursor=str(self.cursor))
            self.listener.schedule(self.catch_up, self.recheck)
        elif self._held_since is not None:
            log.info("held-back signals released", waited=round(time.monotonic() - self._held_since, 3))
            self._held_since = None
