"""The signal cursor on a real PostgreSQL: concurrent writers committing out of id order, rollbacks, resuming,
held-back rows, and a follower that reconnects. Other sessions on the shared server may hold xmin back for a
moment, so reads that expect rows retry briefly; reads that expect none are exact."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Callable, Sequence

import asyncpg
import pytest
import pytest_asyncio

from shared.events import SIGNALS, Listener, SignalsCommitted, notify
from shared.signal_cursor import (
    _AFTER,
    CursorAhead,
    SignalCursor,
    SignalFollower,
    SignalPage,
    cursor_now,
    signals_after,
)

_INSERT = """
    INSERT INTO signals (account, transport, sequence, format, code, qualifier, category, priority, description,
                         raw_frame)
    VALUES ($1, 'tcp', $2, 'ADM-CID', '130', 'event', 'alarm', 2, 'Burglary alarm', '\\x00')
    RETURNING id
"""


async def insert(connection: asyncpg.Connection, sequence: str, account: str = "1234") -> int:
    signal_id: int = await connection.fetchval(_INSERT, account, sequence)
    return signal_id


@pytest_asyncio.fixture
async def connections(database_url: str) -> AsyncIterator[list[asyncpg.Connection]]:
    """Three connections: writer A, writer B, the reader."""
    opened = [await asyncpg.connect(database_url) for _ in range(3)]
    yield opened
    for connection in opened:
        await connection.close()


async def read_until(reader: asyncpg.Connection, cursor: SignalCursor, count: int, limit: int = 500) -> SignalPage:
    """Pages after `cursor` until `count` rows came (another session may hold the horizon back a moment)."""
    rows: list[asyncpg.Record] = []
    async with asyncio.timeout(10):
        while True:
            page = await signals_after(reader, cursor, limit)
            rows += page.rows
            cursor = page.cursor
            if len(rows) >= count and not page.rows:
                return SignalPage(rows, cursor, page.held_back)
            if not page.rows:
                await asyncio.sleep(0.05)


def ids(rows: Sequence[asyncpg.Record]) -> list[int]:
    return [row["id"] for row in rows]


def test_a_cursor_survives_its_text_and_refuses_anything_else() -> None:
    cursor = SignalCursor(9_000_000_123, 42)
    assert SignalCursor.parse(str(cursor)) == cursor and str(cursor) == "9000000123-42"
    assert SignalCursor(5, 9) < SignalCursor(6, 1) < SignalCursor(6, 2)
    for bad in ["", "12", "12-", "-1-2", "1-2-3", "a-b", "1.5-2", "99999999999999999999-1", "9223372036854775808-0"]:
        with pytest.raises(ValueError):
            SignalCursor.parse(bad)


async def test_two_writers_committing_out_of_id_order_deliver_every_row_once(
    connections: list[asyncpg.Connection],
) -> None:
    a, b, reader = connections
    start = await cursor_now(reader)
    transaction_a = a.transaction()
    await transaction_a.start()
    id_a = await insert(a, "0001")  # A takes the lower id...
    async with b.transaction():
        id_b = await insert(b, "0002")
    assert id_a < id_b  # ...and B commits first

    middle = await signals_after(reader, start)
    assert middle.rows == [] and middle.held_back  # B's row waits behind A, which may still commit below it
    # What a reader by id would have done: B's row is visible, so it would resume after id_b and never see A's.
    assert await reader.fetchval("SELECT max(id) FROM signals") == id_b

    await transaction_a.commit()
    after = await read_until(reader, middle.cursor, 2)
    assert ids(after.rows) == [id_a, id_b]  # in commit-safe (xact, id) order, each once
    assert (await signals_after(reader, after.cursor)).rows == []


async def test_a_rolled_back_writer_leaves_no_gap_and_blocks_nothing_once_it_ends(
    connections: list[asyncpg.Connection],
) -> None:
    a, b, reader = connections
    start = await cursor_now(reader)
    transaction_a = a.transaction()
    await transaction_a.start()
    await insert(a, "0001")
    id_b = await insert(b, "0002")
    assert (await signals_after(reader, start)).held_back
    await transaction_a.rollback()
    page = await read_until(reader, start, 1)
    assert ids(page.rows) == [id_b]
    id_c = await insert(b, "0003")
    assert ids((await read_until(reader, page.cursor, 1)).rows) == [id_c]


async def test_a_reader_resumes_from_a_cursor_handed_back_as_text_on_a_new_connection(
    database_url: str, connections: list[asyncpg.Connection]
) -> None:
    writer, _, reader = connections
    start = await cursor_now(reader)
    async with writer.transaction():  # one transaction: its rows share an xact and page by id
        written = [await insert(writer, f"{n:04d}") for n in range(3)]
    written += [await insert(writer, f"{n:04d}") for n in range(3, 5)]
    first = await read_until(reader, start, 5)
    assert ids(first.rows) == written
    first_two = await signals_after(reader, start, limit=2)
    assert ids(first_two.rows) == written[:2]
    handed_back = str(first_two.cursor)
    await reader.close()

    again = await asyncpg.connect(database_url)
    try:
        rest = await read_until(again, SignalCursor.parse(handed_back), 3, limit=2)
        assert ids(rest.rows) == written[2:]
    finally:
        await again.close()


async def test_from_now_delivers_what_commits_later_and_rows_from_before_the_migration_never_come(
    connections: list[asyncpg.Connection],
) -> None:
    writer, _, reader = connections
    old = await insert(writer, "0000")
    await writer.execute("UPDATE signals SET xact = NULL WHERE id = $1", old)  # as if stored before 0012
    before = await insert(writer, "0001")
    now = await cursor_now(reader)
    after = await insert(writer, "0002")
    # From now: never less than what commits later; a row committed just before may come too, when an older
    # transaction somewhere on the server was still open (the shared test server has such moments).
    assert ids((await read_until(reader, now, 1)).rows) in ([after], [before, after])
    assert ids((await read_until(reader, SignalCursor.beginning(), 2)).rows) == [before, after]


async def test_a_reader_far_behind_reads_its_backlog_window_by_window_each_row_once(
    connections: list[asyncpg.Connection],
) -> None:
    writer, _, reader = connections
    start = await cursor_now(reader)
    written = []
    for n in range(120):  # transactions far apart in ids: others (here: id-only ones) take ids in between
        written.append(await insert(writer, f"{n:04d}"))
        for _ in range(n % 5 * 10):  # up to 40: some windows hold fewer rows than a page, and grow
            await writer.fetchval("SELECT pg_current_xact_id()")
    async with writer.transaction():
        written += [await insert(writer, f"{n:04d}") for n in range(120, 140)]
    page = await read_until(reader, start, len(written), limit=7)
    assert ids(page.rows) == written


async def test_a_cursor_from_another_cluster_is_refused(connections: list[asyncpg.Connection]) -> None:
    reader = connections[2]
    with pytest.raises(CursorAhead):
        await signals_after(reader, SignalCursor(2**62, 0))


async def test_the_read_can_be_served_by_the_brin_index(connections: list[asyncpg.Connection]) -> None:
    reader = connections[2]
    await reader.execute("SET enable_seqscan = off")
    plan = "\n".join(row[0] for row in await reader.fetch("EXPLAIN " + _AFTER, 0, 0, 10, 2**40, 0))
    partitions = await reader.fetchval("SELECT count(*) FROM pg_inherits WHERE inhparent = 'signals'::regclass")
    # Each partition's copy of the BRIN index (signals_xact on the partitioned table; <partition>_xact_idx on a
    # month, <table>_xact on the table of before the partitions), for the page and for the held-back check.
    used = re.findall(r"Index Scan on (\w+)", plan)
    assert "Seq Scan" not in plan, plan
    assert len(used) == 2 * partitions and all(re.fullmatch(r"signals\w*_xact(_idx)?", name) for name in used), plan


async def test_the_follower_delivers_held_back_rows_within_a_second_of_the_blocker_ending(
    database_url: str, connections: list[asyncpg.Connection]
) -> None:
    writer, blocker, _ = connections
    delivered: list[int] = []
    cursors: list[SignalCursor] = []

    async def deliver(rows: Sequence[asyncpg.Record], cursor: SignalCursor) -> None:
        delivered.extend(ids(rows))
        cursors.append(cursor)

    listener = Listener(database_url, name="test-follower", min_backoff=0.05)
    SignalFollower(listener, deliver)
    task = asyncio.create_task(listener.run())
    try:
        await asyncio.wait_for(listener.connected.wait(), 10)
        first = await insert(writer, "0001")
        await notify(writer, SIGNALS, SignalsCommitted(first, first, 1))
        await eventually(lambda: delivered == [first])

        # An open transaction that holds an id and never writes a signal (nor notifies) holds the next row back.
        async with blocker.transaction():
            await blocker.fetchval("SELECT pg_current_xact_id()")
            second = await insert(writer, "0002")
            await notify(writer, SIGNALS, SignalsCommitted(second, second, 1))
            await asyncio.sleep(0.6)
            assert delivered == [first]
        ended = asyncio.get_running_loop().time()
        await eventually(lambda: delivered == [first, second], seconds=5)
        assert asyncio.get_running_loop().time() - ended < 1.0

        # Rows committed while its connection is gone come with the catch-up after the reconnect, once.
        await writer.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = current_database() AND application_name = 'alarmhub test-follower'"
        )
        third = await insert(writer, "0003")  # no NOTIFY: only the catch-up can find it
        await eventually(lambda: listener.connections == 2 and delivered == [first, second, third])
        fourth = await insert(writer, "0004")
        await notify(writer, SIGNALS, SignalsCommitted(fourth, fourth, 1))
        await eventually(lambda: delivered == [first, second, third, fourth])
        assert cursors == sorted(cursors)
    finally:
        listener.stop()
        await asyncio.wait_for(task, 10)


async def eventually(condition: Callable[[], bool], seconds: float = 10.0) -> None:
    async with asyncio.timeout(seconds):
        while not condition():  # noqa: ASYNC110 - filled by the follower's task
            await asyncio.sleep(0.01)
