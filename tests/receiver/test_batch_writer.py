"""The batch writer's fallback when two writers store the same signals at once (two receiver processes, a panel
that retransmitted to the other one): PostgreSQL rolls one back as a deadlock, and that batch is sent again with
ON CONFLICT — every signal stored exactly once, nothing refused."""

from __future__ import annotations

import asyncio

import asyncpg

from receiver.batch_writer import INSERT_BATCH_NEW, _insert
from receiver.dc09 import Envelope, Message, cid_data, encode_frame, open_message, parse_envelope
from receiver.signal_rows import message_rows
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
