"""The rules for what a customer types into General Inquiries and Request service, one function per field.

submit_request applies them all; the portal applies them one by one first so that every wrong field is shown at
once, next to itself. Field names are the form's: topic, site_id, contact_name, contact_email, contact_phone,
comments, preferred_dates, preferred_time, submission_key.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, timedelta
from typing import Final

from shared.errors import DomainError
from shared.fields import limit_of, multi_line, normalise_email, single_line
from shared.service.model import KINDS, PREFERRED_TIMES

MAX_PREFERRED_DATES: Final = 3
# How far ahead a customer may ask for a visit.
BOOKING_HORIZON: Final = timedelta(days=365)
SUBMISSION_KEY_LIMIT: Final = 64


def _text(value: str, *, field: str, limits_of: str, missing: str | None = None) -> str:
    """One line, within the limit the shared field `limits_of` has (a contact's name is as long as any name)."""
    try:
        text = single_line(value, field=limits_of, missing=missing)
    except DomainError as error:
        raise DomainError(error.message, field=field) from error
    return text


def long_text(value: str, *, field: str, missing: str | None = None) -> str:
    """Text over several lines (a staff answer, the work performed) as long as a customer's comments may be."""
    try:
        text = multi_line(value, field="comments", missing=missing)
    except DomainError as error:
        raise DomainError(error.message, field=field) from error
    return text


def person(value: str, *, field: str, missing: str) -> str:
    """A person's name (a technician), as long as any name may be."""
    return _text(value, field=field, limits_of="name", missing=missing)


def check_kind(kind: str) -> str:
    if kind not in KINDS:
        raise DomainError(f"unknown kind of request {kind!r}", field="kind")
    return kind


def check_topic(topic: str, topics: Sequence[str]) -> str:
    topic = topic.strip()
    if not topic:
        raise DomainError("Select an issue.", field="topic")
    if topic not in topics:
        raise DomainError("Select one of the issues in the list.", field="topic")
    return topic


def check_contact_name(name: str) -> str:
    return _text(name, field="contact_name", limits_of="name", missing="Enter the name of the person to contact.")


def check_contact_email(email: str) -> str:
    if not email.strip():
        raise DomainError("Enter the e-mail address we should answer to.", field="contact_email")
    try:
        return normalise_email(email, field="email")
    except DomainError as error:
        raise DomainError(error.message, field="contact_email") from error


def check_contact_phone(phone: str) -> str:
    return _text(phone, field="contact_phone", limits_of="phone")


def check_comments(comments: str) -> str:
    return multi_line(comments, field="comments")


def check_preferred_time(preferred_time: str) -> str:
    if preferred_time not in PREFERRED_TIMES:
        raise DomainError("Choose any time, morning or afternoon.", field="preferred_time")
    return preferred_time


def check_preferred_dates(kind: str, dates: Sequence[date], *, today: date) -> list[date]:
    """A request for service names 1 to 3 days, today or later and within a year; an inquiry names none."""
    if kind == "inquiry":
        if dates:
            raise DomainError("A general inquiry does not take preferred dates.", field="preferred_dates")
        return []
    chosen = sorted(set(dates))
    if not chosen:
        raise DomainError("Choose at least one day that suits you.", field="preferred_dates")
    if len(chosen) > MAX_PREFERRED_DATES:
        raise DomainError(f"Choose at most {MAX_PREFERRED_DATES} days.", field="preferred_dates")
    if chosen[0] < today:
        raise DomainError("Choose days from today on.", field="preferred_dates")
    if chosen[-1] > today + BOOKING_HORIZON:
        raise DomainError("Choose days within the next year.", field="preferred_dates")
    return chosen


def check_submission_key(key: str) -> str:
    """The form's one-time key: without it a resubmission could not be told from a new request."""
    key = key.strip()
    if not key or len(key) > SUBMISSION_KEY_LIMIT or not key.isascii() or not key.isprintable():
        raise DomainError("This form has expired: please reload the page and submit it again.", field="form")
    return key


def field_limit(field: str) -> int:
    """The longest value the form's `field` takes (templates put it in maxlength)."""
    shared_name = {
        "contact_name": "name",
        "contact_email": "email",
        "contact_phone": "phone",
        "technician": "name",
        "body": "comments",
        "work_performed": "comments",
    }.get(field, field)
    return limit_of(shared_name)
