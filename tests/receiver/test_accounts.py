"""The account directory follows panel changes through shared.events: by NOTIFY, after a reconnect, periodically."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import asyncpg

from receiver.accounts import AccountDirectory
from tests.receiver.conftest import AES_ACCOUNT, AES_KEY, PLAIN_ACCOUNT

NEW_KEY = bytes(range(32))


@asynccontextmanager
async def following(database_url: str, full_reload_every: float = 300.0) -> AsyncIterator[AccountDirectory]:
    directory = AccountDirectory()
    task = asyncio.create_task(directory.follow_changes(database_url, full_reload_every))
    try:
        await asyncio.wait_for(directory.loaded.wait(), 10)
        yield directory
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def eventually(condition: Callable[[], bool], seconds: float = 10.0) -> None:
    async with asyncio.timeout(seconds):
        while not condition():  # noqa: ASYNC110 - the directory's task fills it
            await asyncio.sleep(0.02)


async def change_key_silently(db: asyncpg.Pool, account: str, key: bytes) -> None:
    """Change a key without the trigger's NOTIFY (replica mode skips triggers): only a reload can see it."""
    async with db.acquire() as connection, connection.transaction():
        await connection.execute("SET LOCAL session_replication_role = replica")
        await connection.execute("UPDATE panels SET dc09_key = $2 WHERE account = $1", account, key)


def key_of(directory: AccountDirectory, account: str) -> bytes | None:
    info = directory.lookup(account)
    return info.key if info is not None else None


async def test_the_directory_follows_key_changes_and_removals_as_they_commit(
    database_url: str, db: asyncpg.Pool, enrolled: dict[str, int]
) -> None:
    async with following(database_url) as directory:
        assert key_of(directory, AES_ACCOUNT) == AES_KEY and len(directory) == 2
        await db.execute("UPDATE panels SET dc09_key = $2 WHERE account = $1", AES_ACCOUNT, NEW_KEY)
        await eventually(lambda: key_of(directory, AES_ACCOUNT) == NEW_KEY)
        await db.execute("UPDATE panels SET account = 'ABCD' WHERE account = $1", PLAIN_ACCOUNT)
        await eventually(lambda: directory.lookup(PLAIN_ACCOUNT) is None and directory.lookup("abcd") is not None)


async def test_after_its_connection_is_terminated_the_directory_reloads_what_it_missed(
    database_url: str, db: asyncpg.Pool, enrolled: dict[str, int]
) -> None:
    async with following(database_url) as directory:
        await change_key_silently(db, AES_ACCOUNT, NEW_KEY)
        await asyncio.sleep(0.3)
        assert key_of(directory, AES_ACCOUNT) == AES_KEY  # no notice, no periodic reload yet
        terminated = await db.fetchval(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE datname = current_database() AND application_name = 'alarmhub account-directory'"
        )
        assert terminated == 1
        await eventually(lambda: key_of(directory, AES_ACCOUNT) == NEW_KEY)


async def test_the_periodic_full_reload_repairs_a_missed_change(
    database_url: str, db: asyncpg.Pool, enrolled: dict[str, int]
) -> None:
    async with following(database_url, full_reload_every=0.3) as directory:
        await change_key_silently(db, AES_ACCOUNT, NEW_KEY)
        await eventually(lambda: key_of(directory, AES_ACCOUNT) == NEW_KEY, seconds=3)
