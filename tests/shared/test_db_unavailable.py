"""database_unavailable(): real failures of a real server are told apart from everything else that can go wrong."""

from __future__ import annotations

import asyncio

import asyncpg
import pytest

from shared.db import database_unavailable
from tests.conftest import free_port


async def _terminated(database_url: str, *, in_transaction: bool) -> BaseException:
    """What a request sees when its connection's server process is ended under it (a restart, a failover)."""
    victim = await asyncpg.connect(database_url)
    killer = await asyncpg.connect(database_url)
    try:
        pid = victim.get_server_pid()
        with pytest.raises(Exception) as raised:
            if in_transaction:
                async with victim.transaction():
                    await killer.execute("SELECT pg_terminate_backend($1)", pid)
                    await victim.fetchval("SELECT 1")
            else:
                await killer.execute("SELECT pg_terminate_backend($1)", pid)
                await asyncio.sleep(0.1)
                await victim.fetchval("SELECT 1")
        return raised.value
    finally:
        await killer.close()
        victim.terminate()


async def test_a_connection_ended_under_a_statement_or_a_transaction_is_an_outage(database_url: str) -> None:
    outside = await _terminated(database_url, in_transaction=False)
    inside = await _terminated(database_url, in_transaction=True)  # asyncpg's transaction exit hides the cause
    assert database_unavailable(outside), repr(outside)
    assert database_unavailable(inside), repr(inside)


async def test_a_refused_connection_is_an_outage() -> None:
    with pytest.raises(OSError) as refused:
        await asyncpg.connect(f"postgresql://postgres@127.0.0.1:{free_port()}/postgres", timeout=2)
    assert database_unavailable(refused.value)


async def test_what_the_server_refuses_and_what_is_not_the_database_is_not_an_outage(database_url: str) -> None:
    connection = await asyncpg.connect(database_url)
    try:
        with pytest.raises(asyncpg.PostgresError) as refused:
            await connection.execute("SELECT 1/0")
    finally:
        await connection.close()
    assert not database_unavailable(refused.value)
    with pytest.raises(TimeoutError) as timed_out:
        async with asyncio.timeout(0.01):
            await asyncio.sleep(1)
    assert not database_unavailable(timed_out.value)  # a timeout of our own, not asyncpg's
    assert not database_unavailable(ConnectionResetError("Connection lost"))  # aiohttp: the browser went away
    assert not database_unavailable(FileNotFoundError("no such file"))
