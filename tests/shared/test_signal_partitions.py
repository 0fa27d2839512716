"""signals partitioned by month (sql/0023-0025, shared/signal_partitions.py): the migration from the unpartitioned
table while signals keep coming, the partitions kept ahead, a month without one refused, old months detached."""

from __future__ import annotations

import asyncio
import itertools
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import pytest

from receiver.batch_writer import _FIELDS, _NAMES, _insert
from shared.migrations import MIGRATIONS_DIR, migrate
from shared.signal_partitions import (
    StillCurrent,
    create_partition,
    detach_before,
    ensure_ahead,
    month_starts,
    partitions,
)
from tests.receiver.test_batch_writer import _rows

# What a receiver of the previous version sends: the rows into signals, no key anywhere but its unique index.
_PREVIOUS_INSERT = f"""
INSERT INTO signals ({_NAMES})
SELECT {_FIELDS} FROM unnest($1::text[]) AS row_text, string_to_array(row_text, E'\\x1f') AS f
"""


def test_month_starts_cross_the_year() -> None:
    assert month_starts(datetime(2026, 11, 30, 23, 30, tzinfo=UTC), 2) == [
        datetime(2026, 11, 1, tzinfo=UTC),
        datetime(2026, 12, 1, tzinfo=UTC),
        datetime(2027, 1, 1, tzinfo=UTC),
    ]


async def test_the_migration_goes_on_under_inserts_and_keeps_every_signal_and_key(
    empty_database_url: str, tmp_path: Path
) -> None:
    for migration in sorted(MIGRATIONS_DIR.glob("*.sql")):
        if migration.name < "0023":
            (tmp_path / migration.name).write_text(migration.read_text())
    before = [row for sequence in range(1, 41) for row in _rows(sequence)]
    connection = await asyncpg.connect(empty_database_url)
    inserter = await asyncpg.connect(empty_database_url)
    migrating = True
    stored_during, failures = 0, []

    async def previous_receiver() -> None:
        nonlocal stored_during
        sequence = 1000
        while migrating:
            try:
                await inserter.execute(_PREVIOUS_INSERT, _rows(sequence))
                stored_during += 1
            except asyncpg.PostgresError as error:
                failures.append(error)
            sequence += 1
            await asyncio.sleep(0.005)

    try:
        await migrate(connection, tmp_path)
        await connection.execute(_PREVIOUS_INSERT, before)
        sending = asyncio.create_task(previous_receiver())
        await asyncio.sleep(0.05)
        applied = await migrate(connection)
        migrating = False
        await sending
        assert [migration.version for migration in applied][:3] == [23, 24, 25]

        assert failures == []  # no insert refused while the table was swapped
        assert stored_during > 0
        counts = await connection.fetchrow("SELECT count(*), count(DISTINCT id) FROM signals")
        assert counts is not None
        count, distinct = counts
        assert count == distinct == len(before) + stored_during
        assert await connection.fetchval("SELECT relkind::text FROM pg_class WHERE oid = 'signals'::regclass") == "p"
        keys = await connection.fetchval("SELECT count(*) FROM signal_keys WHERE sequence <= '0040'")
        assert keys == len(before)  # the keys of the last day's signals came along

        # This version's writer: a retransmission of a signal stored before the migration is stored once, a new
        # signal is stored, and both take ids after every id the identity column gave.
        newest = await connection.fetchval("SELECT max(id) FROM signals")
        await _insert(connection, before[:3] + _rows(41))
        assert await connection.fetchval("SELECT count(*) FROM signals") == count + 1
        assert await connection.fetchval("SELECT id FROM signals WHERE sequence = '0041'") > newest
    finally:
        migrating = False
        await inserter.close()
        await connection.close()


async def test_partitions_are_created_ahead_once_and_a_month_without_one_is_refused(database_url: str) -> None:
    connection = await asyncpg.connect(database_url)
    try:
        first = await partitions(connection)
        assert first[0].name.startswith("signals_before_") and first[0].from_at is None
        assert len(first) == 5  # everything before, then the bound's month and three more
        assert all(a.to_at == b.from_at for a, b in itertools.pairwise(first))  # no gap, no overlap

        # Seen from the last partition's month, two months ahead: the two after it are created, once.
        last = first[-1]
        assert last.from_at is not None and first[1].from_at is not None
        created = await ensure_ahead(connection, last.from_at + timedelta(days=3), 2)
        expected = [f"signals_{month:%Y_%m}" for month in month_starts(last.from_at, 2)[1:]]
        assert created == expected
        assert await ensure_ahead(connection, last.from_at + timedelta(days=3), 2) == []
        assert await create_partition(connection, first[1].from_at) is None  # that month has its partition
        now = await partitions(connection)
        assert [p.name for p in now] == [p.name for p in first] + expected
        assert all(a.to_at == b.from_at for a, b in itertools.pairwise(now))

        # A signal of a month with a partition goes there; one past the last partition is refused, not stored.
        [row] = _rows(1)
        fields = row.split("\x1f")
        assert now[-1].from_at is not None
        fields[10] = (now[-1].from_at + timedelta(hours=1)).isoformat()
        await _insert(connection, ["\x1f".join(fields)])
        where = await connection.fetchval("SELECT tableoid::regclass::text FROM signals")
        assert where == now[-1].name
        fields[10] = (now[-1].to_at + timedelta(hours=1)).isoformat()
        fields[8] = "0002"
        with pytest.raises(asyncpg.CheckViolationError, match="no partition"):
            await _insert(connection, ["\x1f".join(fields)])
    finally:
        await connection.close()


async def test_an_old_month_is_detached_with_its_signals_and_the_current_one_refused(database_url: str) -> None:
    connection = await asyncpg.connect(database_url)
    try:
        await _insert(connection, _rows(1) + _rows(2))
        first = (await partitions(connection))[0]
        with pytest.raises(StillCurrent):
            await detach_before(connection, first.to_at, now=datetime.now(UTC))
        # A month after the first partition's last day, it holds only the past: it goes, with its rows.
        assert await detach_before(connection, first.to_at, now=first.to_at + timedelta(days=40)) == [first.name]
        assert await connection.fetchval("SELECT count(*) FROM signals") == 0
        assert await connection.fetchval(f'SELECT count(*) FROM "{first.name}"') == 2
        assert first.name not in [p.name for p in await partitions(connection)]
    finally:
        await connection.close()
