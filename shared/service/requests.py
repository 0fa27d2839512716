"""Service requests: a customer's submission (once per form), and staff's take, release, comment, schedule, complete.

Every change runs in one transaction that first locks the request's row (SELECT … FOR UPDATE), so two staff
members acting on one request are served one after the other; the mail a change causes is queued in the same
transaction. A request belongs to one customer: every function takes the CustomerScope and another customer's id
is NotFound. Reading (list, one request, history) lives in shared/service/queries.py and is re-exported here.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta

import asyncpg

from shared.branding import Branding
from shared.db import Connection
from shared.errors import Conflict, DomainError, NotFound
from shared.fields import single_line
from shared.scope import CustomerScope
from shared.service import notices, validation
from shared.service.model import SERVICE_DESK, HistoryEntry, RequestEvent, ServiceRequest, Visit
from shared.service.notices import format_moment
from shared.service.queries import get_request, list_requests, open_requests, service_history

__all__ = [
    "HistoryEntry",
    "RequestEvent",
    "ServiceRequest",
    "Visit",
    "comment",
    "complete",
    "confirmation_recipient",
    "get_request",
    "list_requests",
    "open_requests",
    "release",
    "schedule_visit",
    "service_history",
    "submit_request",
    "take",
    "take_over",
]

NOT_FOUND = "That request was not found."
MAX_AHEAD = timedelta(days=366)  # how far ahead a visit is booked, and how far back completed work is dated


async def submit_request(
    connection: Connection,
    scope: CustomerScope,
    branding: Branding,
    *,
    kind: str,
    topic: str,
    topics: Sequence[str],
    site_id: int | None,
    contact_name: str,
    contact_email: str,
    contact_phone: str,
    comments: str,
    preferred_dates: Sequence[date],
    preferred_time: str,
    submission_key: str,
    response_promise: str,
    today: date | None = None,
) -> int:
    """Store the request and queue its confirmation mail; the request's id.

    Raises DomainError naming the field at fault. The same `submission_key` again (a double click, a refresh, a
    second tab racing the first) stores nothing more and mails nothing more: it answers the first request's id.
    `today` is the customer's day (the portal's time zone); preferred dates are checked against it.
    """
    kind = validation.check_kind(kind)
    topic = validation.check_topic(topic, topics)
    contact_name = validation.check_contact_name(contact_name)
    contact_email = validation.check_contact_email(contact_email)
    contact_phone = validation.check_contact_phone(contact_phone)
    comments = validation.check_comments(comments)
    dates = validation.check_preferred_dates(kind, preferred_dates, today=today or datetime.now(UTC).date())
    preferred_time = validation.check_preferred_time(preferred_time if kind == "service" else "any")
    submission_key = validation.check_submission_key(submission_key)
    site_name = await _check_site(connection, scope, kind, site_id)

    async with connection.transaction():
        request_id: int | None = await connection.fetchval(
            """INSERT INTO service_requests (customer_id, kind, topic, site_id, contact_name, contact_email,
                                             contact_phone, comments, preferred_dates, preferred_time, submitted_by,
                                             submission_key)
               VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
               ON CONFLICT (customer_id, submission_key) DO NOTHING
               RETURNING id""",
            scope.customer_id,
            kind,
            topic,
            site_id,
            contact_name,
            contact_email,
            contact_phone,
            comments,
            dates,
            preferred_time,
            scope.user_id,
            submission_key,
        )
        if request_id is None:
            # Submitted before (or a moment ago, by the other click: the insert waited for it to commit).
            existing: int = await connection.fetchval(
                "SELECT id FROM service_requests WHERE customer_id = $1 AND submission_key = $2",
                scope.customer_id,
                submission_key,
            )
            return existing
        author = await _user_name(connection, scope.user_id) or contact_name
        await _event(connection, request_id, scope.user_id, author, "submitted", "customer", comments)
        await notices.mail_received(
            connection,
            branding,
            request_id=request_id,
            kind=kind,
            topic=topic,
            contact_name=contact_name,
            contact_email=await confirmation_recipient(connection, scope, contact_email),
            site_name=site_name,
            comments=comments,
            preferred_dates=dates,
            preferred_time=preferred_time,
            response_promise=response_promise,
        )
    return request_id


async def confirmation_recipient(connection: Connection, scope: CustomerScope, contact_email: str) -> str:
    """Where the confirmation goes: the contact's e-mail when it is on file for the customer (theirs or a login's),
    else the login that submitted. The confirmation quotes what was typed, so it never goes to an address nobody
    on file vouched for — a form would otherwise send the company's mail with any text to anyone."""
    row = await connection.fetchrow(
        """SELECT EXISTS (SELECT 1 FROM customers WHERE id = $1 AND lower(email) = lower($2))
                  OR EXISTS (SELECT 1 FROM users WHERE customer_id = $1 AND lower(email) = lower($2)) AS on_file,
                  (SELECT email FROM users WHERE id = $3 AND customer_id = $1) AS submitter,
                  (SELECT nullif(email, '') FROM customers WHERE id = $1) AS account_email""",
        scope.customer_id,
        contact_email,
        scope.user_id,
    )
    if row is None or row["on_file"]:
        return contact_email
    recipient: str = row["submitter"] or row["account_email"] or contact_email
    return recipient


async def _check_site(connection: Connection, scope: CustomerScope, kind: str, site_id: int | None) -> str:
    """The premises' name; only the customer's own premises are accepted, and a request for service needs one."""
    if site_id is None:
        if kind == "service" and await connection.fetchval(
            "SELECT EXISTS (SELECT 1 FROM sites WHERE customer_id = $1)", scope.customer_id
        ):
            raise DomainError("Choose the premises the visit is for.", field="site_id")
        return ""
    name: str | None = await connection.fetchval(
        "SELECT name FROM sites WHERE id = $1 AND customer_id = $2", site_id, scope.customer_id
    )
    if name is None:
        raise DomainError("Choose one of your premises.", field="site_id")
    return name


async def take(
    connection: Connection, scope: CustomerScope, request_id: int, *, staff_id: int, staff_name: str
) -> None:
    """Make `staff_id` the request's one holder; Conflict (naming the holder) when someone else holds it."""
    async with connection.transaction():
        row = await _lock(connection, scope, request_id)
        if row["holder_id"] == staff_id:
            return
        taken = await connection.fetchval(
            """UPDATE service_requests SET holder_id = $3, taken_at = now(), updated_at = now()
               WHERE id = $1 AND customer_id = $2 AND closed_at IS NULL AND (holder_id IS NULL OR holder_id = $3)
               RETURNING id""",
            request_id,
            scope.customer_id,
            staff_id,
        )
        if taken is None:
            raise Conflict(f"{row['holder_name'] or 'Someone else'} already holds this request.")
        await _event(connection, request_id, staff_id, staff_name, "taken", "internal", "")


async def take_over(
    connection: Connection,
    scope: CustomerScope,
    request_id: int,
    *,
    staff_id: int,
    staff_name: str,
    reason: str,
    expected_holder_id: int | None = None,
) -> None:
    """Take a request another staff member holds (they are away, the customer called again): with a reason, which
    the request's timeline keeps beside whom it was taken from. Nobody holding it: an ordinary take."""
    reason = single_line(reason, field="reason", missing="Say why you take it over.")
    async with connection.transaction():
        row = await _lock(connection, scope, request_id)
        if row["holder_id"] == staff_id:
            return
        if expected_holder_id is not None and row["holder_id"] != expected_holder_id:
            # Two take-overs at once, or the holder changed since the page was shown: the later one is told so.
            raise Conflict(
                f"{row['holder_name'] or 'Nobody'} holds this request now: look again before taking it over."
            )
        await connection.execute(
            "UPDATE service_requests SET holder_id = $2, taken_at = now(), updated_at = now() WHERE id = $1",
            request_id,
            staff_id,
        )
        previous = row["holder_name"] or "nobody"
        body = f"Taken over from {previous}: {reason}" if row["holder_id"] is not None else reason
        await _event(connection, request_id, staff_id, staff_name, "taken", "internal", body)


async def release(
    connection: Connection, scope: CustomerScope, request_id: int, *, staff_id: int, staff_name: str
) -> None:
    """Give the request back to the queue; only its holder may."""
    async with connection.transaction():
        _require_holder(await _lock(connection, scope, request_id), staff_id)
        await connection.execute(
            "UPDATE service_requests SET holder_id = NULL, taken_at = NULL, updated_at = now() WHERE id = $1",
            request_id,
        )
        await _event(connection, request_id, staff_id, staff_name, "released", "internal", "")


async def comment(
    connection: Connection,
    scope: CustomerScope,
    branding: Branding,
    request_id: int,
    *,
    staff_id: int,
    staff_name: str,
    body: str,
    internal: bool,
) -> None:
    """Add a comment; one for the customer answers the request (open → answered) and is mailed to its contact.

    An internal note is for staff only: no status change, no mail, never on the customer's pages.
    """
    body = validation.long_text(body, field="body", missing="Write the comment.")
    async with connection.transaction():
        row = await _lock(connection, scope, request_id)
        _require_holder(row, staff_id)
        await _event(
            connection, request_id, staff_id, staff_name, "comment", "internal" if internal else "customer", body
        )
        if internal:
            await connection.execute("UPDATE service_requests SET updated_at = now() WHERE id = $1", request_id)
            return
        await connection.execute(
            """UPDATE service_requests
               SET status = CASE WHEN status = 'open' THEN 'answered' ELSE status END, updated_at = now()
               WHERE id = $1""",
            request_id,
        )
        await notices.mail_answered(
            connection,
            branding,
            request_id=request_id,
            kind=row["kind"],
            topic=row["topic"],
            contact_name=row["contact_name"],
            contact_email=row["contact_email"],
            author_name=await _public_name(connection, staff_id),
            body=body,
        )


async def schedule_visit(
    connection: Connection,
    scope: CustomerScope,
    branding: Branding,
    request_id: int,
    *,
    staff_id: int,
    staff_name: str,
    technician: str,
    scheduled_for: datetime,
) -> None:
    """Book a technician's visit (it replaces a booked visit still to come); the request becomes 'scheduled' and
    its contact is mailed. `scheduled_for` carries its time zone; the mail and timeline show the time in it."""
    technician = validation.person(technician, field="technician", missing="Enter the technician's name.")
    if scheduled_for.tzinfo is None:
        raise DomainError("Give the visit's time with its time zone.", field="scheduled_for")
    if scheduled_for < datetime.now(UTC):
        raise DomainError("Choose a time that is still to come.", field="scheduled_for")
    if scheduled_for > datetime.now(UTC) + MAX_AHEAD:
        raise DomainError("Choose a time within the next year.", field="scheduled_for")
    async with connection.transaction():
        row = await _lock(connection, scope, request_id)
        _require_holder(row, staff_id)
        replaced = await connection.fetch(
            """UPDATE service_visits SET cancelled_at = now()
               WHERE request_id = $1 AND cancelled_at IS NULL AND scheduled_for > now()
               RETURNING technician""",
            request_id,
        )
        await connection.execute(
            "INSERT INTO service_visits (request_id, technician, scheduled_for, created_by) VALUES ($1, $2, $3, $4)",
            request_id,
            technician,
            scheduled_for,
            staff_id,
        )
        await connection.execute(
            "UPDATE service_requests SET status = 'scheduled', updated_at = now() WHERE id = $1", request_id
        )
        body = f"{technician} will visit on {format_moment(scheduled_for)}."
        if replaced:
            body += " This replaces the visit booked before."
        await _event(connection, request_id, staff_id, staff_name, "scheduled", "customer", body)
        await notices.mail_scheduled(
            connection,
            branding,
            request_id=request_id,
            kind=row["kind"],
            topic=row["topic"],
            contact_name=row["contact_name"],
            contact_email=row["contact_email"],
            technician=technician,
            scheduled_for=scheduled_for,
            site_name=row["site_name"],
            site_address=row["site_address"],
        )


async def complete(
    connection: Connection,
    scope: CustomerScope,
    branding: Branding,
    request_id: int,
    *,
    staff_id: int,
    staff_name: str,
    performed_on: date,
    technician: str,
    work_performed: str,
    today: date | None = None,
) -> None:
    """Close the request with the work performed, which becomes an entry of the customer's service history; its
    contact is mailed. A closed request refuses (Conflict). `today` is the portal's day: no work in the future."""
    technician = validation.person(technician, field="technician", missing="Enter who performed the work.")
    work_performed = validation.long_text(
        work_performed, field="work_performed", missing="Describe the work performed."
    )
    today = today or datetime.now(UTC).date()
    if performed_on > today:
        raise DomainError("The work cannot be dated in the future.", field="performed_on")
    if performed_on < today - MAX_AHEAD:
        raise DomainError("Date the work within the past year.", field="performed_on")
    async with connection.transaction():
        row = await _lock(connection, scope, request_id)
        _require_holder(row, staff_id)
        await connection.execute(
            """INSERT INTO service_history (customer_id, request_id, site_id, performed_on, technician, work_performed,
                                            recorded_by)
               VALUES ($1, $2, $3, $4, $5, $6, $7)""",
            scope.customer_id,
            request_id,
            row["site_id"],
            performed_on,
            technician,
            work_performed,
            staff_id,
        )
        await connection.execute(
            """UPDATE service_requests SET status = 'completed', closed_at = now(), updated_at = now()
               WHERE id = $1""",
            request_id,
        )
        # A visit still to come is not needed any more: the customer's page shows it cancelled, not booked.
        await connection.execute(
            "UPDATE service_visits SET cancelled_at = now() WHERE request_id = $1 AND cancelled_at IS NULL "
            "AND scheduled_for > now()",
            request_id,
        )
        await _event(connection, request_id, staff_id, staff_name, "completed", "customer", work_performed)
        await notices.mail_completed(
            connection,
            branding,
            request_id=request_id,
            kind=row["kind"],
            topic=row["topic"],
            contact_name=row["contact_name"],
            contact_email=row["contact_email"],
            performed_on=performed_on,
            technician=technician,
            work_performed=work_performed,
        )


async def _lock(connection: Connection, scope: CustomerScope, request_id: int) -> asyncpg.Record:
    """The request's row, locked until the transaction ends; NotFound for another customer's; Conflict once closed."""
    # Lock first, then read with the joins: a row locked after waiting for another transaction is re-read in its
    # new version, but rows joined to it in the same statement are not (the holder's name would be the old one's).
    await connection.execute(
        "SELECT 1 FROM service_requests WHERE id = $1 AND customer_id = $2 FOR UPDATE", request_id, scope.customer_id
    )
    row = await connection.fetchrow(
        """SELECT r.id, r.kind, r.topic, r.status, r.closed_at, r.holder_id, r.site_id, r.contact_name,
                  r.contact_email, coalesce(nullif(h.name, ''), h.email, '') AS holder_name,
                  coalesce(s.name, '') AS site_name, coalesce(s.address, '') AS site_address
           FROM service_requests r
           LEFT JOIN users h ON h.id = r.holder_id
           LEFT JOIN sites s ON s.id = r.site_id
           WHERE r.id = $1 AND r.customer_id = $2""",
        request_id,
        scope.customer_id,
    )
    if row is None:
        raise NotFound(NOT_FOUND)
    if row["closed_at"] is not None:
        raise Conflict(f"This request is {row['status']}: nothing more can be done to it.")
    return row


def _require_holder(row: asyncpg.Record, staff_id: int) -> None:
    if row["holder_id"] is None:
        raise Conflict("Take the request first: only its holder works on it.")
    if row["holder_id"] != staff_id:
        raise Conflict(f"{row['holder_name'] or 'Someone else'} holds this request: only its holder works on it.")


async def _public_name(connection: Connection, staff_id: int) -> str:
    """A staff member as customers read them: their name when one is on file, else the service desk."""
    name: str | None = await connection.fetchval("SELECT nullif(btrim(name), '') FROM users WHERE id = $1", staff_id)
    return name or SERVICE_DESK


async def _user_name(connection: Connection, user_id: int | None) -> str:
    if user_id is None:
        return ""
    name: str | None = await connection.fetchval(
        "SELECT coalesce(nullif(name, ''), email) FROM users WHERE id = $1", user_id
    )
    return name or ""


async def _event(
    connection: Connection,
    request_id: int,
    author_id: int | None,
    author_name: str,
    action: str,
    visibility: str,
    body: str,
) -> None:
    await connection.execute(
        """INSERT INTO service_request_events (request_id, author_id, author_name, action, visibility, body)
           VALUES ($1, $2, $3, $4, $5, $6)""",
        request_id,
        author_id,
        author_name,
        action,
        visibility,
        body,
    )
