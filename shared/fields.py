"""Text that people type, checked in one place: one line where it must be, and never longer than its field allows.

Every form and command that stores text a person typed goes through these functions, so a 5,000-character name
is refused next to its field instead of stretching every table that shows it. The limits are also what the
portal's templates put in `maxlength`, so a browser stops the typing where the server would refuse it.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from types import MappingProxyType
from typing import Final

from shared.errors import DomainError

# Longest value of each field, by the form field's name. A field not named here gets DEFAULT_LIMIT.
LIMITS: Final[Mapping[str, int]] = MappingProxyType(
    {
        "name": 120,
        "site_name": 120,
        "address": 300,
        "phone": 40,
        "email": 254,  # RFC 5321: a path holds at most 256 characters, the address 254 of them
        "security_code": 64,
        "account": 16,
        "description": 500,
        "comments": 4000,
        # The Service Center: staff's answers and notes, the work a technician performed, a call-list contact's notes.
        "contact_name": 120,
        "contact_email": 254,
        "contact_phone": 40,
        "technician": 120,
        "body": 4000,
        "work_performed": 4000,
        "notes": 1000,
        "phone_alt": 40,
        "relation": 80,
        "passcode": 40,
    }
)
DEFAULT_LIMIT: Final = 200
EMAIL_LOCAL_LIMIT: Final = 64  # RFC 5321: the part before the @

# Control characters (tab, CR, LF, NUL ...) and the Unicode line and paragraph separators.
_NOT_ON_ONE_LINE = frozenset({"Cc", "Zl", "Zp"})
# Control characters other than the line break and the tab, for text that may span lines.
_LINE_BREAKS = frozenset({"\n", "\t"})
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def limit_of(field: str) -> int:
    return LIMITS.get(field, DEFAULT_LIMIT)


def _check_length(value: str, field: str) -> None:
    limit = limit_of(field)
    if len(value) > limit:
        raise DomainError(f"use at most {limit} characters (this has {len(value)})", field=field)


def single_line(value: str, *, field: str, missing: str | None = None) -> str:
    """`value` trimmed; refused (by `field`) if empty and `missing` is given, if it holds a control character or a
    line break, or if it is longer than the field's limit.

    Names end up in mail headers and logs: one line break there ends a header or forges a log line.
    """
    value = value.strip()
    if missing is not None and not value:
        raise DomainError(missing, field=field)
    if any(unicodedata.category(char) in _NOT_ON_ONE_LINE for char in value):
        raise DomainError("use letters, digits and punctuation only, on one line", field=field)
    _check_length(value, field)
    return value


def multi_line(value: str, *, field: str, missing: str | None = None) -> str:
    """Text that may span lines (comments, notes): line breaks kept (as \\n), other control characters refused."""
    value = value.replace("\r\n", "\n").replace("\r", "\n").strip()
    if missing is not None and not value:
        raise DomainError(missing, field=field)
    if any(unicodedata.category(char) == "Cc" and char not in _LINE_BREAKS for char in value):
        raise DomainError("use letters, digits and punctuation only", field=field)
    _check_length(value, field)
    return value


def normalise_email(email: str, *, field: str = "email") -> str:
    """An e-mail address as typed (trimmed), refused unless it looks like name@example.com and fits RFC 5321."""
    email = single_line(email, field=field)
    if not _EMAIL.match(email):
        raise DomainError("enter an e-mail address like name@example.com", field=field)
    if len(email.rpartition("@")[0]) > EMAIL_LOCAL_LIMIT:
        raise DomainError(f"the part before the @ has at most {EMAIL_LOCAL_LIMIT} characters", field=field)
    return email
