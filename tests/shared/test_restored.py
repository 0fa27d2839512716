"""alarmhub admin after-restore: signals restored from a cluster whose transaction counter was ahead are realigned,
the opener's cursor with them; where nothing is ahead, nothing changes."""

from __future__ import annotations

import asyncpg
import pytest

from shared.restored import Realigned, realign_after_restore
from shared.signal_cursor import CursorAhead, SignalCursor, signals_after
from tests.portal.conftest import add_signal, enrol

AHEAD = 1_000_000_000  # the old cluster's counter, this far ahead of the new one's


async def opener_cursor(connection: asyncpg.Connection) -> SignalCursor:
    row = await connection.fetchrow("SELECT xact, id FROM job_cursors WHERE job = 'incident-opener'")
    assert row is not None
    return SignalCursor(row["xact"], row["id"])


async def test_a_restore_from_a_cluster_ahead_is_realigned_and_new_signals_are_followed(db: asyncpg.Pool) -> None:
    async with db.acquire() as connection:
        customer = await enrol(connection, "restored", "DD01")
        await add_signal(connection, customer, description="Burglary alarm (restored)")
        # What pg_restore into a new cluster leaves: ids of the old server's counter, the opener's cursor among them.
        await connection.execute("UPDATE signals SET xact = xact + $1", AHEAD)
        ahead = await connection.fetchrow("SELECT xact, id FROM signals")
        await connection.execute(
            "INSERT INTO job_cursors (job, xact, id) VALUES ('incident-opener', $1, $2)", ahead["xact"], ahead["id"]
        )
        with pytest.raises(CursorAhead):
            await signals_after(connection, await opener_cursor(connection))

        realigned = await realign_after_restore(connection)
        assert (realigned.signals, realigned.cursors) == (1, 1)
        assert await connection.fetchval("SELECT xact FROM signals") is None
        cursor = await opener_cursor(connection)
        assert (await signals_after(connection, cursor)).rows == []  # the restored signal is history, not news

        await add_signal(connection, customer, description="Fire alarm (after the restore)", sequence="0002")
        page = await signals_after(connection, cursor)
        assert [row["description"] for row in page.rows] == ["Fire alarm (after the restore)"]
        assert await realign_after_restore(connection) == Realigned(0, 0)  # again: nothing is ahead


async def test_where_nothing_is_ahead_nothing_changes(db: asyncpg.Pool) -> None:
    async with db.acquire() as connection:
        customer = await enrol(connection, "same", "DD02")
        await add_signal(connection, customer, description="Burglary alarm")
        before = await connection.fetch("SELECT id, xact FROM signals ORDER BY id")
        await connection.execute("INSERT INTO job_cursors (job, xact, id) VALUES ('incident-opener', 0, 0)")
        assert await realign_after_restore(connection) == Realigned(0, 0)
        assert await connection.fetch("SELECT id, xact FROM signals ORDER BY id") == before
        assert await opener_cursor(connection) == SignalCursor(0, 0)  # a cursor behind keeps its signals to read
