"""API bearer tokens: made once and shown once, stored as a SHA-256, checked by one indexed lookup, revoked."""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass, field
from datetime import datetime
from typing import Final

import asyncpg

from shared.db import Connection, Pool
from shared.errors import Conflict, DomainError, NotFound

# The prefix lets secret scanners (and people) recognise a leaked alarmhub token; 32 random bytes follow.
TOKEN_PREFIX: Final = "ahk_"  # noqa: S105 (a prefix, not a secret)
_TOKEN_BYTES: Final = 32
_TOKEN: Final = re.compile(r"^ahk_[A-Za-z0-9_-]{43}$")
_NAME: Final = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
# A token acts as staff; customers reach their own data through their own login only (CHECK in sql/0014).
API_ROLES: Final = ("dispatcher", "admin")
# last_used_at is for people ("is this token still in use?"): writing it on every request would turn each API
# read into a write, so it moves at most once a minute.
_LAST_USED_STEP: Final = "1 minute"

_COLUMNS: Final = "id, name, role, created_at, last_used_at, revoked_at"


@dataclass(frozen=True, slots=True)
class ApiToken:
    """A token's record: what it is called, whom it acts as, and when it was made, last used and revoked."""

    id: int
    name: str
    role: str
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


@dataclass(frozen=True, slots=True)
class IssuedToken:
    """A token just made: the secret (shown to its creator once, never stored) and its record."""

    secret: str = field(repr=False)
    record: ApiToken


@dataclass(frozen=True, slots=True)
class ApiClient:
    """The holder of a live token, as a request under /api/ knows it."""

    token_id: int
    name: str
    role: str


def token_hash(token: str) -> bytes:
    """What the table keeps: SHA-256 is right for a 256-bit random secret (nothing to guess, nothing to stretch)."""
    return hashlib.sha256(token.encode()).digest()


def new_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(_TOKEN_BYTES)


def looks_like_token(token: str) -> bool:
    """Whether `token` has the shape of one of ours: anything else is refused without asking the database."""
    return _TOKEN.match(token) is not None


def check_name(name: str) -> str:
    name = name.strip()
    if not _NAME.match(name):
        raise DomainError("a token's name has 1 to 64 letters, digits, dots, dashes or underscores", field="name")
    return name


def check_role(role: str) -> str:
    if role not in API_ROLES:
        raise DomainError("an API token acts as a dispatcher or an admin, never as a customer", field="role")
    return role


def _record(row: asyncpg.Record) -> ApiToken:
    return ApiToken(
        id=row["id"],
        name=row["name"],
        role=row["role"],
        created_at=row["created_at"],
        last_used_at=row["last_used_at"],
        revoked_at=row["revoked_at"],
    )


async def create_api_token(connection: Connection, *, name: str, role: str) -> IssuedToken:
    """A new token named `name` acting as `role`; its secret is in the answer and nowhere else."""
    name, role = check_name(name), check_role(role)
    secret = new_token()
    try:
        row = await connection.fetchrow(
            f"INSERT INTO api_tokens (name, role, token_hash) VALUES ($1, $2, $3) RETURNING {_COLUMNS}",
            name,
            role,
            token_hash(secret),
        )
    except asyncpg.UniqueViolationError:
        raise Conflict(
            f"a live API token is already named {name}: revoke it or choose another name", field="name"
        ) from None
    assert row is not None  # INSERT ... RETURNING answers the row it inserted
    return IssuedToken(secret, _record(row))


async def revoke_api_token(connection: Connection, *, name: str) -> ApiToken:
    """Revoke the live token named `name` (any case); it stops working at once."""
    row = await connection.fetchrow(
        f"UPDATE api_tokens SET revoked_at = now() WHERE lower(name) = lower($1) AND revoked_at IS NULL "
        f"RETURNING {_COLUMNS}",
        name.strip(),
    )
    if row is None:
        raise NotFound(f"no live API token is named {name.strip()}", field="name")
    return _record(row)


async def revoke_api_token_by_id(connection: Connection, token_id: int) -> ApiToken:
    """Revoke a token by id (the admin page); revoking a revoked token again changes nothing."""
    row = await connection.fetchrow(
        f"UPDATE api_tokens SET revoked_at = coalesce(revoked_at, now()) WHERE id = $1 RETURNING {_COLUMNS}",
        token_id,
    )
    if row is None:
        raise NotFound("there is no such API token")
    return _record(row)


async def list_api_tokens(connection: Connection) -> list[ApiToken]:
    """Every token, live ones first (by name), then revoked ones (latest first)."""
    rows = await connection.fetch(
        f"SELECT {_COLUMNS} FROM api_tokens ORDER BY revoked_at IS NOT NULL, revoked_at DESC, lower(name), id"
    )
    return [_record(row) for row in rows]


async def authenticate(database: Pool | Connection, token: str) -> ApiClient | None:
    """The holder of `token` if it is live, else None: one lookup by the unique hash index.

    The last-used time is written only when it is a minute old or more (and the UPDATE re-checks that, so two
    portals seeing the same token at once write it once).
    """
    if not looks_like_token(token):
        return None
    row = await database.fetchrow(
        "SELECT id, name, role, "
        f"       last_used_at IS NULL OR last_used_at < now() - interval '{_LAST_USED_STEP}' AS stale "
        "  FROM api_tokens WHERE token_hash = $1 AND revoked_at IS NULL",
        token_hash(token),
    )
    if row is None:
        return None
    if row["stale"]:
        await database.execute(
            "UPDATE api_tokens SET last_used_at = now() "
            f"WHERE id = $1 AND (last_used_at IS NULL OR last_used_at < now() - interval '{_LAST_USED_STEP}')",
            row["id"],
        )
    return ApiClient(token_id=row["id"], name=row["name"], role=row["role"])
