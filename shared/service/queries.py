"""Reading the Service Center: a customer's requests, one request with its timeline and visits, service history."""

from __future__ import annotations

from shared.db import Connection
from shared.errors import NotFound
from shared.scope import CustomerScope
from shared.service.model import (
    REQUEST_COLUMNS,
    REQUEST_FROM,
    SERVICE_DESK,
    HistoryEntry,
    RequestEvent,
    ServiceRequest,
    Visit,
    event_of,
    history_of,
    request_of,
    visit_of,
)


async def list_requests(
    connection: Connection, scope: CustomerScope, *, open_only: bool = False, limit: int = 100
) -> list[ServiceRequest]:
    """The customer's requests, newest first; `open_only` leaves out completed and cancelled ones."""
    rows = await connection.fetch(
        f"""SELECT {REQUEST_COLUMNS} FROM {REQUEST_FROM}
            WHERE r.customer_id = $1 AND (NOT $2 OR r.closed_at IS NULL)
            ORDER BY r.created_at DESC, r.id DESC
            LIMIT $3""",
        scope.customer_id,
        open_only,
        limit,
    )
    return [request_of(row) for row in rows]


async def open_requests(connection: Connection, scope: CustomerScope, *, limit: int = 5) -> list[ServiceRequest]:
    """The dashboard's card: requests still open, newest first."""
    return await list_requests(connection, scope, open_only=True, limit=limit)


async def get_request(
    connection: Connection, scope: CustomerScope, request_id: int, *, internal: bool
) -> tuple[ServiceRequest, list[RequestEvent], list[Visit]]:
    """One request of the customer with its events (oldest first) and visits; NotFound for another customer's.

    `internal=False` (the customer's own pages) leaves out staff-only events: internal notes, taken, released.
    """
    row = await connection.fetchrow(
        f"SELECT {REQUEST_COLUMNS} FROM {REQUEST_FROM} WHERE r.id = $1 AND r.customer_id = $2",
        request_id,
        scope.customer_id,
    )
    if row is None:
        raise NotFound("That request was not found.")
    # Staff read who did what; a customer reads a staff member's name only when one is on file, never a login
    # e-mail (staff logins have none shown to customers): otherwise the service desk answered.
    events = await connection.fetch(
        """SELECT e.id, e.at, e.action, e.visibility, e.body,
                  CASE WHEN $2 OR e.action = 'submitted' THEN e.author_name
                       ELSE coalesce(nullif(btrim(u.name), ''), $3) END AS author_name
           FROM service_request_events e LEFT JOIN users u ON u.id = e.author_id
           WHERE e.request_id = $1 AND ($2 OR e.visibility = 'customer')
           ORDER BY e.at, e.id""",
        request_id,
        internal,
        SERVICE_DESK,
    )
    visits = await connection.fetch(
        """SELECT id, technician, scheduled_for, cancelled_at FROM service_visits
           WHERE request_id = $1 ORDER BY scheduled_for, id""",
        request_id,
    )
    return request_of(row), [event_of(e) for e in events], [visit_of(v) for v in visits]


async def service_history(connection: Connection, scope: CustomerScope, *, limit: int = 100) -> list[HistoryEntry]:
    """The work performed for the customer, newest first, with the request it answered and the premises."""
    rows = await connection.fetch(
        """SELECT h.id, h.performed_on, h.technician, h.work_performed, h.request_id,
                  coalesce(r.topic, '') AS topic, coalesce(s.name, '') AS site_name
           FROM service_history h
           LEFT JOIN service_requests r ON r.id = h.request_id
           LEFT JOIN sites s ON s.id = h.site_id
           WHERE h.customer_id = $1
           ORDER BY h.performed_on DESC, h.id DESC
           LIMIT $2""",
        scope.customer_id,
        limit,
    )
    return [history_of(row) for row in rows]
