"""What a service request, its events, its visits and a service-history entry are, as read from the database."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Final

import asyncpg

# Who answered, as a customer reads it when the staff member has no name on file (never their login e-mail).
SERVICE_DESK: Final = "Service desk"
KINDS: Final = ("inquiry", "service")
PREFERRED_TIMES: Final = ("any", "morning", "afternoon")
OPEN_STATUSES: Final = ("open", "answered", "scheduled")
CLOSED_STATUSES: Final = ("completed", "cancelled")

# What a customer reads for each value (pages and mail).
KIND_LABELS: Final = {"inquiry": "General inquiry", "service": "Request for service"}
STATUS_LABELS: Final = {
    "open": "Received",
    "answered": "Answered",
    "scheduled": "Visit scheduled",
    "completed": "Completed",
    "cancelled": "Cancelled",
}
TIME_LABELS: Final = {"any": "Any time", "morning": "Morning", "afternoon": "Afternoon"}
ACTION_LABELS: Final = {
    "submitted": "Request received",
    "taken": "Taken",
    "released": "Released",
    "comment": "Comment",
    "scheduled": "Visit scheduled",
    "completed": "Completed",
    "cancelled": "Cancelled",
}


@dataclass(frozen=True, slots=True)
class ServiceRequest:
    """A general inquiry or a request for service, with the names of its premises, holder and customer."""

    id: int
    customer_id: int
    kind: str  # 'inquiry' | 'service'
    topic: str
    site_id: int | None
    site_name: str
    site_address: str
    contact_name: str
    contact_email: str
    contact_phone: str
    comments: str
    preferred_dates: list[date]
    preferred_time: str  # 'any' | 'morning' | 'afternoon'
    status: str  # 'open' | 'answered' | 'scheduled' | 'completed' | 'cancelled'
    holder_id: int | None
    holder_name: str
    taken_at: datetime | None
    created_at: datetime
    updated_at: datetime
    closed_at: datetime | None
    customer_name: str

    @property
    def closed(self) -> bool:
        return self.closed_at is not None

    @property
    def kind_label(self) -> str:
        return KIND_LABELS[self.kind]

    @property
    def status_label(self) -> str:
        return STATUS_LABELS[self.status]

    @property
    def preferred_time_label(self) -> str:
        return TIME_LABELS[self.preferred_time]


@dataclass(frozen=True, slots=True)
class RequestEvent:
    """One thing that happened to a request; `visibility` is 'customer' or 'internal' (staff only)."""

    id: int
    at: datetime
    author_name: str
    action: str
    visibility: str
    body: str

    @property
    def action_label(self) -> str:
        return ACTION_LABELS[self.action]

    @property
    def internal(self) -> bool:
        return self.visibility == "internal"


@dataclass(frozen=True, slots=True)
class Visit:
    """A technician's visit booked for a request; a later booking cancels the one it replaces."""

    id: int
    technician: str
    scheduled_for: datetime
    cancelled_at: datetime | None


@dataclass(frozen=True, slots=True)
class HistoryEntry:
    """Work performed for the customer: what a completed request left in the service history."""

    id: int
    performed_on: date
    technician: str
    work_performed: str
    request_id: int | None
    topic: str
    site_name: str


REQUEST_COLUMNS: Final = """
    r.id, r.customer_id, r.kind, r.topic, r.site_id, coalesce(s.name, '') AS site_name,
    coalesce(s.address, '') AS site_address, r.contact_name, r.contact_email, r.contact_phone, r.comments,
    r.preferred_dates, r.preferred_time, r.status, r.holder_id,
    coalesce(nullif(h.name, ''), h.email, '') AS holder_name, r.taken_at, r.created_at, r.updated_at, r.closed_at,
    c.name AS customer_name"""
REQUEST_FROM: Final = """
    service_requests r
    JOIN customers c ON c.id = r.customer_id
    LEFT JOIN sites s ON s.id = r.site_id
    LEFT JOIN users h ON h.id = r.holder_id"""


def request_of(row: asyncpg.Record) -> ServiceRequest:
    return ServiceRequest(
        id=row["id"],
        customer_id=row["customer_id"],
        kind=row["kind"],
        topic=row["topic"],
        site_id=row["site_id"],
        site_name=row["site_name"],
        site_address=row["site_address"],
        contact_name=row["contact_name"],
        contact_email=row["contact_email"],
        contact_phone=row["contact_phone"],
        comments=row["comments"],
        preferred_dates=list(row["preferred_dates"]),
        preferred_time=row["preferred_time"],
        status=row["status"],
        holder_id=row["holder_id"],
        holder_name=row["holder_name"],
        taken_at=row["taken_at"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        closed_at=row["closed_at"],
        customer_name=row["customer_name"],
    )


def event_of(row: asyncpg.Record) -> RequestEvent:
    return RequestEvent(
        id=row["id"],
        at=row["at"],
        author_name=row["author_name"],
        action=row["action"],
        visibility=row["visibility"],
        body=row["body"],
    )


def visit_of(row: asyncpg.Record) -> Visit:
    return Visit(
        id=row["id"], technician=row["technician"], scheduled_for=row["scheduled_for"], cancelled_at=row["cancelled_at"]
    )


def history_of(row: asyncpg.Record) -> HistoryEntry:
    return HistoryEntry(
        id=row["id"],
        performed_on=row["performed_on"],
        technician=row["technician"],
        work_performed=row["work_performed"],
        request_id=row["request_id"],
        topic=row["topic"],
        site_name=row["site_name"],
    )
