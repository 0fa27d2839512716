"""signals partitioned by month (sql/0023-0025, shared/signal_partitions.py): the migration from the unpartitioned
table while signals keep coming, the partitions kept ahead, a month without one refused, old months detached."""

from __future__ import annotations

import asyncio
import itertools
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import asyncpg
import pytest

from receiver.batch_writer import _FIELDS, _NAMES, _insert, check_schema
from shared.migrations import MIGRATIONS_DIR, migrate
from shared.restored import realign_after_restore
from shared.signal_partitions import (
    StillCurrent,
    create_partition,
    detach_before,
    ensure_ahead,
    month_start,
    month_starts,
    partitions,
)
from tests.receiver.test_batch_writer import _rows

# What a receiver of the previous version sends: the rows into signals, no key anywhere but its unique index.
_PREVIOUS_INSERT = f"""
INSERT INTO signals ({_NAMES})
SELECT {_FIELDS} FROM unnest($1::text[]) AS row_text, string_to_array(row_text, E'\\x1f') AS f
"""


def test_month_start_counts_months_back_and_forth_in_utc() -> None:
    assert month_start(datetime(2026, 12, 6, tzinfo=UTC)) == datetime(2026, 12, 1, tzinfo=UTC)
    assert month_start(datetime(2026, 12, 6, tzinfo=UTC), -12) == datetime(2025, 12, 1, tzinfo=UTC)
    chicago = ZoneInfo("America/Chicago")
    assert month_start(datetime(2026, 11, 30, 23, 30, tzinfo=chicago), 2) == datetime(2027, 2, 1, tzinfo=UTC)


def test_month_starts_cross_the_year() -> None:
    assert month_starts(datetime(2026, 11, 30, 23, 30, tzinfo=UTC), 2) == [
        datetime(2026, 11, 1, tzinfo=UTC),
        datetime(2026, 12, 1, tzinfo=UTC),
        datetime(2027, 1, 1, tzinfo=UTC),
    ]


def _migrations_before(version: str, directory: Path) -> Path:
    directory.mkdir()
    for migration in sorted(MIGRATIONS_DIR.glob("*.sql")):
        if migration.name < version:
            (directory / migration.name).write_text(migration.read_text())
    return directory


async def test_the_migration_goes_on_under_inserts_and_keeps_every_signal_and_key(
    empty_database_url: str, tmp_path: Path
) -> None:
    before = [row for sequence in range(1, 41) for row in _rows(sequence)]  # stored before 0023
    between = [row for sequence in range(41, 61) for row in _rows(sequence)]  # between 0023 and 0025
    # A session time zone far from UTC: the months' bounds must still be UTC months.
    settings = {"timezone": "Pacific/Auckland"}
    connection = await asyncpg.connect(empty_database_url, server_settings=settings)
    inserter = await asyncpg.connect(empty_database_url, server_settings={"timezone": "America/New_York"})
    migrating = True
    stored_during: list[list[str]] = []
    failures: list[Exception] = []

    async def previous_receiver() -> None:
        sequence = 1000
        while migrating:
            rows = _rows(sequence)
            try:
                await inserter.execute(_PREVIOUS_INSERT, rows)
                stored_during.append(rows)
            except asyncpg.PostgresError as error:
                failures.append(error)
            sequence += 1
            await asyncio.sleep(0.002)

    try:
        await migrate(connection, _migrations_before("0023", tmp_path / "before"))
        await connection.execute(_PREVIOUS_INSERT, before)
        await migrate(connection, _migrations_before("0025", tmp_path / "between"))
        await connection.execute(_PREVIOUS_INSERT, between)
        sending = asyncio.create_task(previous_receiver())
        applied = await migrate(connection)
        migrating = False
        await sending
        assert applied[0].version == 25

        assert failures == []  # no insert refused while migrate ran and swapped the table
        assert stored_during
        counts = await connection.fetchrow("SELECT count(*), count(DISTINCT id) FROM signals")
        assert counts is not None
        count, distinct = counts
        assert count == distinct == len(before) + len(between) + len(stored_during)
        assert await connection.fetchval("SELECT relkind::text FROM pg_class WHERE oid = 'signals'::regclass") == "p"
        keys = await connection.fetchval("SELECT count(*) FROM signal_keys WHERE sequence <= '0060'")
        assert keys == len(before) + len(between)  # 0023 copied the first, 0025 those stored since

        layout = await partitions(connection)
        assert layout[0].from_at is None and len(layout) == 5
        assert [p.from_at for p in layout[1:]] == month_starts(layout[0].to_at, 3)  # UTC months
        assert all(a.to_at == b.from_at for a, b in itertools.pairwise(layout))
        assert [p.name for p in layout[1:]] == [f"signals_{m:%Y_%m}" for m in month_starts(layout[0].to_at, 3)]

        # This version's writer: at its start it records the keys of the last hour's signals that a receiver of
        # the previous version stored without one; then a retransmission of any signal stored before or during
        # the migration is stored once, a new signal is stored, with an id after every id the identity gave.
        await check_schema(connection)
        assert await connection.fetchval("SELECT count(*) FROM signal_keys") == count
        newest = await connection.fetchval("SELECT max(id) FROM signals")
        resent = before[:1] + between[:1] + stored_during[0] + stored_during[-1]  # the same frames again
        await _insert(connection, resent + _rows(61))
        assert await connection.fetchval("SELECT count(*) FROM signals") == count + 1
        assert await connection.fetchval("SELECT id FROM signals WHERE sequence = '0061'") > newest
    finally:
        migrating = False
        await inserter.close()
        await connection.close()


async def test_a_sequence_behind_the_highest_id_is_refused_until_realigned(database_url: str) -> None:
    # Each month's partition has its own primary key: only the sequence keeps ids unique across months. A writer
    # refuses to start on a sequence behind (a data-only restore), and after-restore moves it on.
    connection = await asyncpg.connect(database_url)
    try:
        await _insert(connection, _rows(1) + _rows(2))
        await connection.execute("ALTER SEQUENCE signals_id_seq RESTART WITH 2")
        with pytest.raises(RuntimeError, match="after-restore"):
            await check_schema(connection)
        realigned = await realign_after_restore(connection)
        assert realigned.ids_from == await connection.fetchval("SELECT max(id) FROM signals")
        await check_schema(connection)
        await _insert(connection, _rows(3))
        assert await connection.fetchval("SELECT count(DISTINCT id) FROM signals") == 3
        assert (await realign_after_restore(connection)).ids_from is None
    finally:
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
