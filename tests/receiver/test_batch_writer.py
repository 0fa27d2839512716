"""The batch writer against real PostgreSQL: when two writers store the same signals at once (two receiver
processes, a panel that retransmitted to the other one) PostgreSQL rolls one back as a deadlock, and that batch is
sent again with ON CONFLICT — every signal stored exactly once, nothing refused; a value too big for an index
entry is still stored; only the idempotency key sends a batch again; a database not yet migrated is named."""

from __future__ import annotations

import asyncio
import random
from pathlib import Path

import asyncpg
import pytest

from receiver.batch_writer import IDEMPOTENCY_KEY, INSERT_BATCH_NEW, _insert, check_schema
from receiver.dc09 import Envelope, Message, cid_data, encode_frame, open_message, parse_envelope
from receiver.signal_rows import FIELD_SEPARATOR, SIGNAL_COLUMNS, message_rows
from shared.migrations import MIGRATIONS_DIR, migrate
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
        b_stores = asyncio.create_task(_insert(b, second + first))  # takes 2, waits for 1
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
        await _insert(connection, [huge])  # refused by the key, sent again with ON CONFLICT
        zones = await connection.fetch("SELECT length(zone) AS n FROM signals WHERE account = $1", PLAIN_ACCOUNT)
    finally:
        await connection.close()
    assert [zone["n"] for zone in zones] == [10_000]


async def test_a_clash_on_the_id_is_an_error_never_a_skipped_retransmission(database_url: str) -> None:
    # Should the id sequence fall behind (a restore, a manual insert), new rows clash on the primary key. Only
    # the idempotency index may send a batch again with ON CONFLICT, and only on that index: otherwise new
    # signals in a batch holding a retransmission would be skipped as duplicates — acknowledged and lost.
    stored, fresh = _rows(6), _rows(7) + _rows(8)
    connection = await asyncpg.connect(database_url)
    try:
        await _insert(connection, _rows(4) + _rows(5) + stored)
        await connection.execute("ALTER SEQUENCE signals_id_seq RESTART WITH 1")
        with pytest.raises(asyncpg.UniqueViolationError) as refused:
            await _insert(connection, stored + fresh)
        assert refused.value.constraint_name != IDEMPOTENCY_KEY  # the partition's primary key
        assert (refused.value.constraint_name or "").endswith("_pkey")
        await connection.execute("ALTER SEQUENCE signals_id_seq RESTART WITH 1000")  # what an operator does
        await _insert(connection, stored + fresh)  # the panels' retransmissions, now stored
        sequences = await connection.fetch("SELECT sequence FROM signals ORDER BY sequence")
    finally:
        await connection.close()
    assert [row["sequence"] for row in sequences] == ["0004", "0005", "0006", "0007", "0008"]


async def test_a_database_not_yet_partitioned_is_named_as_the_problem(empty_database_url: str, tmp_path: Path) -> None:
    # Before 0025 the writer's statement would store retransmissions twice (no key table) or not at all: the writer
    # refuses the database, naming the migration, and keeps frames unacknowledged until `alarmhub migrate` has run.
    for migration in sorted(MIGRATIONS_DIR.glob("*.sql")):
        if migration.name < "0025":
            (tmp_path / migration.name).write_text(migration.read_text())
    connection = await asyncpg.connect(empty_database_url)
    try:
        with pytest.raises(RuntimeError, match=r"not partitioned.*alarmhub migrate"):
            await check_schema(connection)
        await migrate(connection, tmp_path)
        with pytest.raises(RuntimeError, match=r"not partitioned.*alarmhub migrate"):
            await check_schema(connection)
        await migrate(connection)
        await check_schema(connection)
    finally:
        await connection.close()
