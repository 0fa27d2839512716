"""The call list's rules (C12): what a contact and a verbal passcode may be, and the event a change announces."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final, Literal

from shared.call_list.queries import ContactDetails
from shared.errors import DomainError
from shared.events import CALL_LIST_CHANNEL, Channel
from shared.fields import multi_line, single_line

MAX_CONTACTS: Final = 20
PASSCODE_LENGTH: Final = (3, 40)
PHONE_DIGITS: Final = (7, 20)
# A phone number as people type it: digits with spaces, dots, dashes and brackets, a leading +, and an extension
# ("x 12", "ext. 12"). What the dispatcher dials is the person's own writing, so it is kept as typed.
_PHONE = re.compile(r"\+?[0-9 ().\-]+(?:\s*(?:x|ext\.?)\s*[0-9]+)?", re.IGNORECASE)
Direction = Literal["up", "down"]


@dataclass(frozen=True, slots=True)
class CallListChanged:
    """A premises' call list or passcode changed (payload `<customer_id>:<site_id>`); the listener reads it anew."""

    customer_id: int
    site_id: int

    def encode(self) -> str:
        return f"{self.customer_id}:{self.site_id}"

    @classmethod
    def decode(cls, payload: str) -> CallListChanged:
        customer, _, site = payload.partition(":")
        if not customer.isdigit() or not site.isdigit():
            raise ValueError(f"not <customer_id>:<site_id>: {payload[:80]!r}")
        return cls(int(customer), int(site))


CALL_LIST: Final[Channel[CallListChanged]] = Channel(CALL_LIST_CHANNEL, CallListChanged.decode)


class InvalidContact(DomainError):
    """Several fields of a contact are wrong at once; `errors` maps each field to what to fix."""

    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__("please correct the fields marked below")
        self.errors = errors


def _phone(value: str, *, field: str, missing: str | None) -> str:
    # The second phone's length limit is the first one's: both are "phone" to shared.fields.
    try:
        phone = single_line(value, field="phone", missing=missing)
    except DomainError as error:
        raise DomainError(error.message, field=field) from None
    if not phone:
        return phone
    digits = sum(char.isdigit() for char in phone)
    if not _PHONE.fullmatch(phone) or not PHONE_DIGITS[0] <= digits <= PHONE_DIGITS[1]:
        raise DomainError(
            "enter a phone number of 7 to 20 digits, e.g. (555) 010-0199 or +1 555 010 0199 ext. 12", field=field
        )
    return phone


def clean_contact(details: ContactDetails) -> ContactDetails:
    """`details` trimmed and checked; InvalidContact names every field to fix (name and phone are required)."""
    errors: dict[str, str] = {}

    def checked(field: str, check: Callable[[], str]) -> str:
        try:
            return check()
        except DomainError as error:
            errors[error.field or field] = error.message
            return ""

    cleaned = ContactDetails(
        name=checked(
            "name", lambda: single_line(details.name, field="name", missing="please enter the contact's name")
        ),
        phone=checked("phone", lambda: _phone(details.phone, field="phone", missing="please enter a phone number")),
        phone_alt=checked("phone_alt", lambda: _phone(details.phone_alt, field="phone_alt", missing=None)),
        relation=checked("relation", lambda: single_line(details.relation, field="relation")),
        has_keys=bool(details.has_keys),
        notes=checked("notes", lambda: multi_line(details.notes, field="notes")),
    )
    if errors:
        raise InvalidContact(errors)
    return cleaned


def clean_passcode(passcode: str) -> str:
    """A verbal passcode: one line of 3 to 40 characters (the dispatcher reads it out; spaces inside are kept)."""
    passcode = single_line(passcode, field="passcode", missing="please enter the verbal passcode")
    low, high = PASSCODE_LENGTH
    if not low <= len(passcode) <= high:
        raise DomainError(f"use {low} to {high} characters (this has {len(passcode)})", field="passcode")
    return passcode
