"""Rotating a panel's DC-09 key in the database: what becomes the previous key, for how long, and what is refused."""

from __future__ import annotations

from datetime import timedelta

import asyncpg
import pytest

from receiver.accounts import AccountDirectory
from shared.dc09_rotation import forget_expired_dc09_keys, rotate_dc09_key
from shared.enrolment import create_customer
from shared.errors import DomainError, NotFound

OLD = bytes.fromhex("000102030405060708090A0B0C0D0E0F")
NEW = bytes(range(32))
HOUR = timedelta(hours=1)


async def enrol(connection: asyncpg.Connection, account: str, key: bytes | None) -> None:
    await create_customer(
        connection,
        name=f"Panel {account}",
        email=f"{account}@example.com",
        password=None,
        account=account,
        dc09_key=key.hex() if key else None,
        dc09_key_format="hex" if key else None,
    )


async def keys_of(connection: asyncpg.Connection, account: str) -> tuple[object, ...]:
    row = await connection.fetchrow(
        "SELECT dc09_key, dc09_key_format, dc09_key_previous, dc09_key_previous_until > now() AS overlapping "
        "FROM panels WHERE account = $1",
        account,
    )
    return tuple(bytes(value) if isinstance(value, bytes) else value for value in row)


async def test_the_current_key_becomes_the_previous_one_for_the_overlap(db: asyncpg.Pool) -> None:
    async with db.acquire() as connection:
        await enrol(connection, "5678", OLD)
        rotation = await rotate_dc09_key(connection, "5678", "typed-key-16char", "ascii", HOUR)
        assert rotation.account == "5678" and rotation.previous_until is not None
        assert await keys_of(connection, "5678") == (b"typed-key-16char", "ascii", OLD, True)
        # Rotating again within the overlap keeps only the key being replaced, not the one before it.
        await rotate_dc09_key(connection, "5678", NEW.hex(), "hex", HOUR)
        assert await keys_of(connection, "5678") == (NEW, "hex", b"typed-key-16char", True)
        # No overlap: the switch is immediate and no previous key is kept.
        assert (await rotate_dc09_key(connection, "5678", OLD.hex(), "hex", timedelta(0))).previous_until is None
        assert await keys_of(connection, "5678") == (OLD, "hex", None, None)


async def test_a_panel_without_a_key_gets_one_with_nothing_to_keep(db: asyncpg.Pool) -> None:
    async with db.acquire() as connection:
        await enrol(connection, "1234", None)
        assert (await rotate_dc09_key(connection, "1234", NEW.hex(), "hex", HOUR)).previous_until is None
        assert await keys_of(connection, "1234") == (NEW, "hex", None, None)


async def test_an_unknown_account_a_bad_key_the_same_key_and_a_bad_overlap_are_refused(db: asyncpg.Pool) -> None:
    async with db.acquire() as connection:
        await enrol(connection, "5678", OLD)
        with pytest.raises(NotFound):
            await rotate_dc09_key(connection, "ABCDEF", NEW.hex(), "hex", HOUR)
        for text, key_format, overlap, field in (
            ("00FF", "hex", HOUR, "dc09_key"),
            (OLD.hex(), "hex", HOUR, "dc09_key"),
            (NEW.hex(), "hex", timedelta(days=31), "overlap"),
            (NEW.hex(), "hex", -HOUR, "overlap"),
        ):
            with pytest.raises(DomainError) as caught:
                await rotate_dc09_key(connection, "5678", text, key_format, overlap)
            assert caught.value.field == field and text not in caught.value.message
        assert await keys_of(connection, "5678") == (OLD, "hex", None, None)
        with pytest.raises(asyncpg.CheckViolationError):  # a previous key needs its end, and a current key
            await connection.execute("UPDATE panels SET dc09_key_previous = $1 WHERE account = '5678'", NEW)


async def test_an_expired_previous_key_is_neither_loaded_by_receivers_nor_kept_once_forgotten(
    db: asyncpg.Pool,
) -> None:
    async with db.acquire() as connection:
        await enrol(connection, "5678", OLD)
        await enrol(connection, "9ABC", OLD)
        await rotate_dc09_key(connection, "5678", NEW.hex(), "hex", HOUR)
        await rotate_dc09_key(connection, "9ABC", NEW.hex(), "hex", HOUR)
        await connection.execute(
            "UPDATE panels SET dc09_key_previous_until = now() - interval '1 second' WHERE account = '9ABC'"
        )
        directory = AccountDirectory()
        await directory.load_all(connection)
        current, expired = directory.lookup("5678"), directory.lookup("9ABC")
        assert current is not None and current.previous_key == OLD and current.previous_until is not None
        assert expired is not None and expired.key == NEW and expired.previous_key is None
        assert await forget_expired_dc09_keys(connection) == 1
        assert await keys_of(connection, "9ABC") == (NEW, "hex", None, None)
        assert await keys_of(connection, "5678") == (NEW, "hex", OLD, True)
