"""Choosing a password: strong enough, typed twice alike, hashed off the event loop."""

from __future__ import annotations

import asyncio

from portal.forms import InvalidForm
from shared.enrolment import check_password_strength
from shared.errors import DomainError
from shared.passwords import hash_password, verify_password

MAX_PASSWORD_LENGTH = 256  # Argon2 would take any length; a bound keeps one request from costing too much
_COMMON = frozenset(
    {
        "1234567890",
        "12345678910",
        "0123456789",
        "qwertyuiop",
        "password12",
        "password123",
        "password1234",
        "passw0rd123",
        "iloveyou123",
        "1q2w3e4r5t",
        "qwerty12345",
        "abcdefghij",
        "abc1234567",
        "letmein123",
        "welcome123",
        "admin12345",
        "monitoring",
        "security123",
    }
)


def check_new_password(password: str, confirm: str, *, email: str, field: str = "password") -> None:
    """Raise InvalidForm naming the field when the new password is weak or the two entries differ."""
    errors: dict[str, str] = {}
    try:
        check_password_strength(password)
        if len(password) > MAX_PASSWORD_LENGTH:
            raise DomainError(f"use at most {MAX_PASSWORD_LENGTH} characters")
        lowered = password.lower()
        local_part = email.lower().partition("@")[0]
        if lowered in _COMMON or (len(local_part) >= 4 and local_part in lowered):
            raise DomainError("this password is too easy to guess: avoid common passwords and your e-mail address")
    except DomainError as error:
        errors[field] = error.message
    if not errors and password != confirm:
        errors[f"{field}_confirm"] = "the two passwords differ"
    if errors:
        raise InvalidForm(errors)


async def hash_in_thread(password: str) -> str:
    """Argon2id takes tens of milliseconds of CPU: keep the event loop free for other requests meanwhile."""
    return await asyncio.to_thread(hash_password, password)


async def verify_in_thread(password_hash: str | None, password: str) -> bool:
    return await asyncio.to_thread(verify_password, password_hash, password)
