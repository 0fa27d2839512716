"""The batch writer against real PostgreSQL: when two writers store the same signals at once (two receiver
processes, a panel that retransmitted to the other one) PostgreSQL rolls one back as a deadlock, and that batch is
sent again with ON CONFLICT — every signal stored exactly once, nothing refused; a value too big for an index
entry is still stored; a row the database refuses costs only its own message."""

from __future__ import annotations

import asyncio
import random
import secrets

import asyncpg

from receiver.batch_writer import INSERT_BATCH_NEW, BatchWriter, StorageUnavailable, _insert
from receiver.dc09 import Envelope, Message, cid_data, encode_frame, open_message, parse_envelope
from receiver.signal_rows import FIELD_SEPARATOR, SIGNAL_COLUMNS, message_rows
from tests.receiver.conftest import PLAIN_ACCOUNT, now


def _rows(sequence: int) -> list[str]:
    frame = encode_frame("ADM-CID", sequence, PLAIN_ACCOUNT, cid_data(PLAIN_ACCOUNT, 1, 130, 1, 4), timestamp=now())
    envelope = parse_envelope(frame)
    assert isinstance(envelope, Envelope)
    message = open_message(envelope, None, now(), enforce_window=False)
    assert isinstance(message, Message)
    return message_rows(message, None, PLAIN_ACCOUNT, "tcp", "127.0.0.1:4000", now())


async def _waiting_for_a_lock(observer: asyncpg.Connection, pid: int) -> None:
    for _ in range(200):
        if await observer.fetchval("SELECT wait_event_type = 'Lock' FROM pg_stat_activity WHERE pid = $1", pid):
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the second writer never waited for the first")


async def test_two_writers_storing_the_same_signals_in_opposite_order_store_each_once(database_url: str) -> None:
    first, second = _rows(1), _rows(2)
    a, b, observer = [await asyncpg.connect(database_url) for _ in range(3)]
    try:
        # b waits first, so b's deadlock check (after 500 ms) is the one that finds the cycle; a's never runs.
        await b.execute("SET deadlock_timeout = '500ms'")
        await a.execute("SET deadlock_timeout = '60s'")
        transaction = a.transaction()
        await transaction.start()
        await a.fetchrow(INSERT_BATCH_NEW, first)  # a holds signal 1 (uncommitted)
        b_stores = asyncio.create_task(_insert(b, second + first))  # b takes signal 2, then waits for 1
        await _waiting_for_a_lock(observer, b.get_server_pid())
        await a.fetchrow(INSERT_BATCH_NEW, second)  # a waits for 2: a cycle; b is rolled back, a goes on
        await transaction.commit()
        await asyncio.wait_for(b_stores, 10)  # b sent again with ON CONFLICT: both are a's now, skipped
        rows = await observer.fetch("SELECT sequence FROM signals WHERE account = $1 ORDER BY sequence", PLAIN_ACCOUNT)
    finally:
        for connection in (a, b, observer):
            await connection.close()
    assert [row["sequence"] for row in rows] == ["0001", "0002"]


def _with_field(row: str, column: str, value: str) -> str:
    fields = row.split(FIELD_SEPARATOR)
    fields[[name for name, _, _ in SIGNAL_COLUMNS].index(column)] = value
    return FIELD_SEPARATOR.join(fields)


async def test_a_zone_too_long_for_any_index_entry_is_still_stored_once(database_url: str) -> None:
    # A btree entry holds at most 2,704 bytes; the key reads only the first 64 characters of zone, partition
    # and user, so a panel (or gateway) sending a huge one cannot make its signal unstorable.
    [row] = _rows(3)
    digits = "".join(random.choices("0123456789", k=10_000))  # random: PostgreSQL compresses repeated ones
    huge = _with_field(_with_field(row, "zone", digits), "user_number", digits[::-1])
    connection = await asyncpg.connect(database_url)
    try:
        await _insert(connection, [huge])
        await _insert(connection, [huge])  # the retransmission: refused by the key, sent again with ON CONFLICT
        zones = await connection.fetch("SELECT length(zone) AS n FROM signals WHERE account = $1", PLAIN_ACCOUNT)
    finally:
        await connection.close()
    assert [zone["n"] for zone in zones] == [10_000]


async def test_a_row_the_database_refuses_leaves_the_rest_of_its_batch_stored_and_answered(database_url: str) -> None:
    # An account of 8,000 random characters is more than any index entry can hold, even compressed (PostgreSQL:
    # "index row size exceeds maximum", program limit exceeded): that message alone is refused, the others commit.
    [row] = _rows(4)
    refused_row = _with_field(row, "account", secrets.token_hex(4000))
    writer = BatchWriter(database_url)
    ready = asyncio.Event()
    running = asyncio.create_task(writer.run(ready))
    try:
        await asyncio.wait_for(ready.wait(), 10)
        good, refused, also_good = writer.submit([row]), writer.submit([refused_row]), writer.submit(_rows(5))
        results = await asyncio.wait_for(asyncio.gather(good, refused, also_good, return_exceptions=True), 10)
        assert writer.available  # the writer kept its connection
    finally:
        running.cancel()
        await asyncio.gather(running, return_exceptions=True)
    assert results[0] is None and results[2] is None
    assert isinstance(results[1], StorageUnavailable) and "refused by the database" in str(results[1])
    connection = await asyncpg.connect(database_url)
    try:
        stored = await connection.fetch("SELECT sequence FROM signals WHERE account = $1 ORDER BY 1", PLAIN_ACCOUNT)
    finally:
        await connection.close()
    assert [row["sequence"] for row in stored] == ["0004", "0005"]
