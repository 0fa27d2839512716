"""Choosing a password in the portal: the shared policy, typed twice alike, hashed off the event loop."""

from __future__ import annotations

import asyncio

from portal.forms import InvalidForm
from shared.password_policy import password_problem
from shared.passwords import hash_password, verify_password


def check_new_password(password: str, confirm: str, *, email: str, field: str = "password") -> None:
    """Raise InvalidForm naming the field when the new password breaks the policy or the two entries differ."""
    problem = password_problem(password, email=email)
    if problem is not None:
        raise InvalidForm({field: problem})
    if password != confirm:
        raise InvalidForm({f"{field}_confirm": "the two passwords differ"})


async def hash_in_thread(password: str) -> str:
    """Argon2id takes tens of milliseconds of CPU: keep the event loop free for other requests meanwhile."""
    return await asyncio.to_thread(hash_password, password)


async def verify_in_thread(password_hash: str | None, password: str) -> bool:
    return await asyncio.to_thread(verify_password, password_hash, password)
