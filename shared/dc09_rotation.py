"""Rotating a panel's DC-09 key: the new key at once, the one it replaces still accepted for an overlap."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from shared.db import Connection
from shared.dc09_keys import InvalidKeyError, parse_dc09_key
from shared.enrolment import panel_of_account
from shared.errors import DomainError

# Long enough for an installer's round of visits; a key is a secret, so an old one is not kept for ever.
MAX_OVERLAP = timedelta(days=30)

# Column references on the right are the row as it was: the current key becomes the previous one. A panel without
# a key, or no overlap, keeps none (sql/0026_dc09_key_rotation.sql: a previous key needs a current one and an end).
_ROTATE = """
    UPDATE panels
       SET dc09_key_previous = CASE WHEN $4::interval > interval '0' THEN dc09_key END,
           dc09_key_previous_until = CASE WHEN $4::interval > interval '0' AND dc09_key IS NOT NULL
                                          THEN now() + $4::interval END,
           dc09_key = $2,
           dc09_key_format = $3
     WHERE id = $1
 RETURNING account, dc09_key_previous_until
"""


@dataclass(frozen=True, slots=True)
class Rotation:
    """What a rotation did (never the keys)."""

    panel_id: int
    account: str
    previous_until: datetime | None  # None: no previous key is accepted (the panel had none, or no overlap)


async def rotate_dc09_key(
    connection: Connection, account: str, key_text: str, key_format: str, overlap: timedelta
) -> Rotation:
    """Give the panel of `account` the key `key_text` (entered as `key_format`) now, its current key accepted for
    `overlap` more; NotFound for an unknown account, DomainError for a bad key, overlap or an unchanged key."""
    try:
        key = parse_dc09_key(key_text, key_format)
    except InvalidKeyError as error:
        raise DomainError(str(error), field="dc09_key") from None
    if not timedelta(0) <= overlap <= MAX_OVERLAP:
        raise DomainError(f"the overlap is from 0 to {MAX_OVERLAP.days * 24} hours", field="overlap")
    async with connection.transaction():
        _, panel_id = await panel_of_account(connection, account)
        current = await connection.fetchval("SELECT dc09_key FROM panels WHERE id = $1 FOR UPDATE", panel_id)
        if current is not None and bytes(current) == key:
            raise DomainError("that is already the panel's key", field="dc09_key")
        row = await connection.fetchrow(_ROTATE, panel_id, key, key_format, overlap)
    assert row is not None  # the row is locked above
    return Rotation(panel_id, row["account"], row["dc09_key_previous_until"])


async def forget_expired_dc09_keys(connection: Connection) -> int:
    """Drop every previous key whose overlap has ended (receivers no longer accept it anyway); how many."""
    status = await connection.execute(
        "UPDATE panels SET dc09_key_previous = NULL, dc09_key_previous_until = NULL "
        "WHERE dc09_key_previous_until <= now()"
    )
    return int(status.rsplit(maxsplit=1)[-1])
