"""Single-use links sent by e-mail: only the token's SHA-256 is stored, and using a link marks it used."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from enum import StrEnum

from aiohttp import web

from portal.auth.sessions import token_hash
from portal.keys import pool_key
from shared.db import Connection
from shared.errors import NotFound


class Purpose(StrEnum):
    CONFIRM_EMAIL = "confirm_email"
    RESET_PASSWORD = "reset_password"  # noqa: S105 - a purpose, not a password
    INVITATION = "invitation"


class LinkNotValid(NotFound):
    """Used, expired, superseded or altered: the page says so without saying which."""

    def __init__(self) -> None:
        super().__init__("this link is not valid any more: it was used already, it expired, or it was cut short")


@dataclass(frozen=True, slots=True)
class LinkHolder:
    user_id: int
    email: str
    name: str
    customer_id: int | None


async def issue_token(connection: Connection, user_id: int, purpose: Purpose, lifetime_seconds: float) -> str:
    """A new link token; earlier unused links of the same purpose stop working, so only the newest mail counts."""
    await connection.execute(
        "UPDATE user_tokens SET used_at = now() WHERE user_id = $1 AND purpose = $2 AND used_at IS NULL",
        user_id,
        purpose.value,
    )
    token = secrets.token_urlsafe(32)
    await connection.execute(
        "INSERT INTO user_tokens (user_id, purpose, token_hash, expires_at) "
        "VALUES ($1, $2, $3, now() + make_interval(secs => $4))",
        user_id,
        purpose.value,
        token_hash(token),
        lifetime_seconds,
    )
    return token


_HOLDER = """
    SELECT u.id, u.email, u.name, u.customer_id
      FROM user_tokens t JOIN users u ON u.id = t.user_id
     WHERE t.token_hash = $1 AND t.purpose = $2 AND t.used_at IS NULL AND t.expires_at > now()
"""


async def peek_token(connection: Connection, token: str, purpose: Purpose) -> LinkHolder:
    """Whose valid link this is, without using it up (for the page the link opens)."""
    row = await connection.fetchrow(_HOLDER, token_hash(token), purpose.value)
    if row is None:
        raise LinkNotValid()
    return LinkHolder(row["id"], row["email"], row["name"], row["customer_id"])


async def holder_of_link(request: web.Request, purpose: Purpose) -> LinkHolder:
    """The holder of the valid link in this request's path ({token}), for the page the link opens."""
    async with request.app[pool_key].acquire() as connection:
        return await peek_token(connection, request.match_info["token"], purpose)


async def use_token(connection: Connection, token: str, purpose: Purpose) -> LinkHolder:
    """Use the link once: of two concurrent uses only one finds it unused."""
    holder = await peek_token(connection, token, purpose)
    used = await connection.fetchval(
        "UPDATE user_tokens SET used_at = now() "
        "WHERE token_hash = $1 AND purpose = $2 AND used_at IS NULL AND expires_at > now() RETURNING id",
        token_hash(token),
        purpose.value,
    )
    if used is None:
        raise LinkNotValid()
    return holder
