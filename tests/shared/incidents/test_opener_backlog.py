"""The incident opener's backlog as a worker's /metrics reports it (shared.incidents.opener.opener_backlog): how long
the next committed signal it will take up has waited, and whether its cursor is ahead of the server."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import asyncpg

from shared.incidents import queries
from shared.incidents.opener import JOB, OpenerBacklog, opener_backlog
from shared.signal_cursor import SignalCursor, cursor_now


async def store(db: asyncpg.Pool | asyncpg.Connection, received_at: datetime) -> int:
    """One signal, as received at `received_at`; its id."""
    signal_id: int = await db.fetchval(
        "INSERT INTO signals (account, transport, sequence, format, code, qualifier, category, priority, description,"
        " raw_frame, received_at) VALUES ('1234', 'tcp', '0001', 'ADM-CID', '130', 'event', 'alarm', 3,"
        " 'Burglary alarm', '\\x00', $1) RETURNING id",
        received_at,
    )
    return signal_id


async def backlog_once_final(db: asyncpg.Pool) -> OpenerBacklog | None:
    """The backlog once no other session's open transaction holds the signals just stored back (a shared server)."""
    async with asyncio.timeout(10):
        while True:
            async with db.acquire() as connection:
                held = await connection.fetchval(
                    "SELECT EXISTS (SELECT FROM signals"
                    " WHERE xact >= pg_snapshot_xmin(pg_current_snapshot())::text::bigint)"
                )
                if not held:
                    return await opener_backlog(connection)
            await asyncio.sleep(0.05)


async def test_the_backlog_is_how_long_the_next_signal_to_take_up_has_waited(db: asyncpg.Pool) -> None:
    async with db.acquire() as connection:
        assert await opener_backlog(connection) is None, "before the opener's first start"
        start = await queries.start_cursor(connection, JOB, await cursor_now(connection))
    assert await backlog_once_final(db) == OpenerBacklog(0.0, False)

    now = datetime.now(UTC)
    first = await store(db, now - timedelta(seconds=90))
    await store(db, now - timedelta(seconds=600))  # committed later: the opener takes it up after the first
    backlog = await backlog_once_final(db)
    assert backlog is not None and not backlog.cursor_ahead
    assert 90 <= backlog.behind_seconds < 150, backlog

    async with db.acquire() as connection:
        first_xact = await connection.fetchval("SELECT xact FROM signals WHERE id = $1", first)
        assert await queries.advance_cursor(connection, JOB, start, SignalCursor(first_xact, first))
    backlog = await backlog_once_final(db)
    assert backlog is not None and 600 <= backlog.behind_seconds < 660, "the second signal is next now"


async def test_a_signal_stamped_ahead_counts_as_not_waiting(db: asyncpg.Pool) -> None:
    async with db.acquire() as connection:
        await queries.start_cursor(connection, JOB, await cursor_now(connection))
    await store(db, datetime.now(UTC) + timedelta(minutes=5))  # a receiver's clock ahead
    assert await backlog_once_final(db) == OpenerBacklog(0.0, False)


async def test_a_cursor_ahead_of_the_server_is_reported(db: asyncpg.Pool) -> None:
    async with db.acquire() as connection:
        ahead = SignalCursor(await connection.fetchval("SELECT pg_current_xact_id()::text::bigint") + 10**9, 0)
        await queries.start_cursor(connection, JOB, ahead)
        assert await opener_backlog(connection) == OpenerBacklog(0.0, True)


async def test_signals_held_back_behind_an_open_transaction_are_waiting(db: asyncpg.Pool) -> None:
    """An open transaction holding an id anywhere on the server keeps signals committed after it began from the
    opener (shared.signal_cursor): they are the backlog, though signals_after returns none of them yet."""
    async with db.acquire() as connection:
        await queries.start_cursor(connection, JOB, await cursor_now(connection))
    assert await backlog_once_final(db) == OpenerBacklog(0.0, False)
    async with db.acquire() as holder:
        transaction = holder.transaction()
        await transaction.start()
        try:
            await holder.fetchval("SELECT pg_current_xact_id()")  # takes an id: the horizon stays behind it
            now = datetime.now(UTC)
            await store(db, now - timedelta(seconds=90))
            await store(db, now - timedelta(seconds=600))  # committed later: taken up after the first
            async with db.acquire() as connection:
                backlog = await opener_backlog(connection)
            assert backlog is not None and 90 <= backlog.behind_seconds < 150, backlog
        finally:
            await transaction.rollback()
    backlog = await backlog_once_final(db)
    assert backlog is not None and 90 <= backlog.behind_seconds < 150, "final now: the same signal is next"


async def test_a_cursor_far_behind_in_transaction_ids_finds_the_next_signal(db: asyncpg.Pool) -> None:
    async with db.acquire() as connection:
        await queries.start_cursor(connection, JOB, SignalCursor(1, 0))  # the windows double up to the server's ids
    now = datetime.now(UTC)
    for seconds in (300, 900, 30):  # three transactions: the first committed is next, whenever received
        await store(db, now - timedelta(seconds=seconds))
    backlog = await backlog_once_final(db)
    assert backlog is not None and 300 <= backlog.behind_seconds < 360, backlog


async def test_a_cursor_within_a_transaction_s_rows_finds_the_next_of_them(db: asyncpg.Pool) -> None:
    now = datetime.now(UTC)
    async with db.acquire() as connection, connection.transaction():  # one batch, as a receiver commits it
        first = await store(connection, now - timedelta(seconds=900))
        await store(connection, now - timedelta(seconds=300))
    async with db.acquire() as connection:
        xact = await connection.fetchval("SELECT xact FROM signals WHERE id = $1", first)
        await queries.start_cursor(connection, JOB, SignalCursor(xact, first))  # the first handled, not the second
    backlog = await backlog_once_final(db)
    assert backlog is not None and 300 <= backlog.behind_seconds < 360, backlog


async def test_a_later_transaction_s_smaller_id_comes_next(db: asyncpg.Pool) -> None:
    """Commit order is (xact, id): a transaction that took its id later but inserted first has the smaller signal id,
    and still comes after every row of the earlier transaction."""
    now = datetime.now(UTC)
    async with db.acquire() as earlier, db.acquire() as later:
        first, second = earlier.transaction(), later.transaction()
        await first.start()
        await earlier.fetchval("SELECT pg_current_xact_id()")
        await second.start()
        await later.fetchval("SELECT pg_current_xact_id()")  # a greater xact
        smaller = await store(later, now - timedelta(seconds=300))
        larger = await store(earlier, now - timedelta(seconds=900))
        await first.commit()
        await second.commit()
    assert smaller < larger
    async with db.acquire() as connection:
        xact = await connection.fetchval("SELECT xact FROM signals WHERE id = $1", larger)
        await queries.start_cursor(connection, JOB, SignalCursor(xact, larger))  # the earlier transaction handled
    backlog = await backlog_once_final(db)
    assert backlog is not None and 300 <= backlog.behind_seconds < 360, backlog
