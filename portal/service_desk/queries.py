"""SQL of the service desk: the staff queue across customers, and which customer a request belongs to."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import asyncpg

from shared.db import Connection
from shared.errors import NotFound

QUEUE_PAGE = 50
STATUSES = ("open", "answered", "scheduled", "completed", "cancelled")
KINDS = ("inquiry", "service")
HOLDERS = ("anyone", "me", "nobody")
# `status` beyond the request states: every request not closed (the default), or every request.
NOT_CLOSED, ALL = "not_closed", "all"


@dataclass(frozen=True, slots=True)
class QueueFilter:
    """What the queue shows: already checked against the allowed values (anything else fell back to the default)."""

    status: str = NOT_CLOSED
    kind: str = ""
    topic: str = ""
    holder: str = "anyone"


@dataclass(frozen=True, slots=True)
class Cursor:
    """The last row of a page: the next page starts after it, oldest first."""

    created_at: datetime
    id: int

    def encode(self) -> str:
        return f"{self.created_at.isoformat()}_{self.id}"

    @classmethod
    def decode(cls, text: str) -> Cursor | None:
        """The cursor a page link carried; None for anything malformed (the queue starts at its oldest row)."""
        moment, _, number = text.rpartition("_")
        if not number.isascii() or not number.isdigit() or len(number) > 19:
            return None
        try:
            created_at = datetime.fromisoformat(moment)
        except ValueError:
            return None
        if created_at.tzinfo is None:
            return None
        return cls(created_at, int(number))


@dataclass(frozen=True, slots=True)
class QueuePage:
    rows: list[asyncpg.Record]
    next_cursor: Cursor | None


_QUEUE = """
SELECT r.id, r.customer_id, c.name AS customer_name, r.kind, r.topic, r.status,
       r.site_id, coalesce(s.name, '') AS site_name, coalesce(s.address, '') AS site_address,
       r.holder_id, coalesce(nullif(h.name, ''), h.email, '') AS holder_name, r.taken_at,
       r.created_at, r.closed_at
  FROM service_requests r
  JOIN customers c ON c.id = r.customer_id
  LEFT JOIN sites s ON s.id = r.site_id
  LEFT JOIN users h ON h.id = r.holder_id
 WHERE {conditions}
 ORDER BY r.created_at, r.id
 LIMIT {limit}"""


async def queue(
    connection: Connection, chosen: QueueFilter, *, staff_id: int, after: Cursor | None = None, limit: int = QUEUE_PAGE
) -> QueuePage:
    """Requests of every customer (a staff query: no customer scope) matching `chosen`, oldest first, one page.

    The WHERE clause is assembled from fixed fragments only (values are parameters), so each combination of
    filters gets its own plan: the default, every request not closed, reads the partial index by age.
    """
    conditions: list[str] = []
    values: list[object] = []

    def parameter(value: object) -> str:
        values.append(value)
        return f"${len(values)}"

    if chosen.status == NOT_CLOSED:
        conditions.append("r.closed_at IS NULL")
    elif chosen.status != ALL:
        conditions.append(f"r.status = {parameter(chosen.status)}")
    if chosen.kind:
        conditions.append(f"r.kind = {parameter(chosen.kind)}")
    if chosen.topic:
        conditions.append(f"r.topic = {parameter(chosen.topic)}")
    if chosen.holder == "me":
        conditions.append(f"r.holder_id = {parameter(staff_id)}")
    elif chosen.holder == "nobody":
        conditions.append("r.holder_id IS NULL")
    if after is not None:
        conditions.append(f"(r.created_at, r.id) > ({parameter(after.created_at)}, {parameter(after.id)})")
    sql = _QUEUE.format(conditions=" AND ".join(conditions) or "true", limit=parameter(limit + 1))
    rows: list[asyncpg.Record] = await connection.fetch(sql, *values)
    if len(rows) > limit:
        last = rows[limit - 1]
        return QueuePage(rows[:limit], Cursor(last["created_at"], last["id"]))
    return QueuePage(rows, None)


async def customer_of_request(connection: Connection, request_id: int) -> int:
    """The customer a request belongs to, so that the desk's pages act in that customer's scope; NotFound if none."""
    customer_id: int | None = await connection.fetchval(
        "SELECT customer_id FROM service_requests WHERE id = $1", request_id
    )
    if customer_id is None:
        raise NotFound("there is no such service request")
    return customer_id


async def recent_technicians(connection: Connection, *, limit: int = 30) -> list[str]:
    """Technicians booked for visits lately, most recent first: the desk's forms suggest them, so one technician
    is written one way in every customer's service history."""
    names: list[str] = [
        row["technician"]
        for row in await connection.fetch(
            """SELECT technician FROM service_visits
                WHERE created_at > now() - interval '180 days'
                GROUP BY technician ORDER BY max(created_at) DESC LIMIT $1""",
            limit,
        )
    ]
    return names
