"""The mail a request's contact receives: received, answered, visit scheduled, completed — each links to the request."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from shared import messages
from shared.branding import Branding
from shared.db import Connection
from shared.service.model import KIND_LABELS, TIME_LABELS


def request_number(request_id: int) -> str:
    """How a customer names a request on the phone and in mail: "#1042"."""
    return f"#{request_id}"


def request_link(branding: Branding, request_id: int) -> str:
    return f"{branding.public_url}/service/requests/{request_id}"


def format_day(day: date) -> str:
    """ "Monday 7 December 2026" — a day a person reads, in mail and on pages alike."""
    return f"{day:%A} {day.day} {day:%B %Y}"


def format_moment(moment: datetime) -> str:
    """A visit's time in the time zone it was booked in (staff book in the portal's zone): "Monday 7 December 2026
    at 09:30"."""
    return f"{format_day(moment.date())} at {moment:%H:%M}"


def _base(branding: Branding, request_id: int, kind: str, topic: str, name: str) -> dict[str, Any]:
    return {
        "name": name,
        "number": request_number(request_id),
        "kind_label": KIND_LABELS[kind],
        "topic": topic,
        "link": request_link(branding, request_id),
    }


async def mail_received(
    connection: Connection,
    branding: Branding,
    *,
    request_id: int,
    kind: str,
    topic: str,
    contact_name: str,
    contact_email: str,
    site_name: str,
    comments: str,
    preferred_dates: list[date],
    preferred_time: str,
    response_promise: str,
) -> None:
    context = {
        **_base(branding, request_id, kind, topic, contact_name),
        "site_name": site_name,
        "comments": comments,
        "preferred_dates": [format_day(day) for day in preferred_dates],
        "preferred_time": TIME_LABELS[preferred_time],
        "response_promise": response_promise,
    }
    await messages.queue_mail(
        connection, branding, messages.SERVICE_REQUEST_RECEIVED, recipient=contact_email, context=context
    )


async def mail_answered(
    connection: Connection,
    branding: Branding,
    *,
    request_id: int,
    kind: str,
    topic: str,
    contact_name: str,
    contact_email: str,
    author_name: str,
    body: str,
) -> None:
    context = {**_base(branding, request_id, kind, topic, contact_name), "author": author_name, "body": body}
    await messages.queue_mail(
        connection, branding, messages.SERVICE_REQUEST_ANSWERED, recipient=contact_email, context=context
    )


async def mail_scheduled(
    connection: Connection,
    branding: Branding,
    *,
    request_id: int,
    kind: str,
    topic: str,
    contact_name: str,
    contact_email: str,
    technician: str,
    scheduled_for: datetime,
    site_name: str,
    site_address: str,
) -> None:
    context = {
        **_base(branding, request_id, kind, topic, contact_name),
        "technician": technician,
        "when": format_moment(scheduled_for),
        "site_name": site_name,
        "site_address": site_address,
    }
    await messages.queue_mail(
        connection, branding, messages.SERVICE_VISIT_SCHEDULED, recipient=contact_email, context=context
    )


async def mail_completed(
    connection: Connection,
    branding: Branding,
    *,
    request_id: int,
    kind: str,
    topic: str,
    contact_name: str,
    contact_email: str,
    performed_on: date,
    technician: str,
    work_performed: str,
) -> None:
    context = {
        **_base(branding, request_id, kind, topic, contact_name),
        "performed_on": format_day(performed_on),
        "technician": technician,
        "work_performed": work_performed,
        "history_link": f"{branding.public_url}/service/history",
    }
    await messages.queue_mail(
        connection, branding, messages.SERVICE_REQUEST_COMPLETED, recipient=contact_email, context=context
    )
