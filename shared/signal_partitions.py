"""The monthly partitions of signals (sql/0025_signals_partitioned.sql): created ahead, listed, detached for archiving.

A signal can be stored only in a partition holding its month (UTC): the worker's singleton job keeps this month's
and the next `worker.partitions_ahead` in place. An old month is detached whole (DETACH PARTITION CONCURRENTLY:
receivers and portals go on meanwhile) and stays a table of its own, for `pg_dump -t` and then DROP TABLE.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from shared.config import Config
from shared.db import Connection, Pool
from shared.jobs import Singleton
from shared.logs import get_logger

log = get_logger(__name__)

# Creating a partition waits at most this long for its lock on signals (SHARE UPDATE EXCLUSIVE: only other DDL and a
# manual VACUUM or ANALYZE of signals hold it off); the job then tries again at its next run.
LOCK_TIMEOUT = "5s"


@dataclass(frozen=True, slots=True)
class Partition:
    name: str
    from_at: datetime | None  # None: the first partition, which holds everything before to_at
    to_at: datetime
    estimated_rows: int  # PostgreSQL's estimate (pg_class.reltuples) as of the last VACUUM or ANALYZE
    detach_pending: bool = False  # a DETACH … CONCURRENTLY was interrupted: detach_before() finalizes it


def month_start(at: datetime, months: int = 0) -> datetime:
    """The first instant (UTC) of the month `months` after (before, if negative) the one holding `at`: where a
    partition begins."""
    utc = at.astimezone(UTC)
    index = utc.year * 12 + utc.month - 1 + months
    return datetime(index // 12, index % 12 + 1, 1, tzinfo=UTC)


def month_starts(now: datetime, ahead: int) -> list[datetime]:
    """The first instant (UTC) of the month holding `now` and of the `ahead` months after it."""
    return [month_start(now, months) for months in range(ahead + 1)]


async def partitions(connection: Connection) -> list[Partition]:
    """The partitions of signals, oldest first."""
    rows = await connection.fetch(
        "SELECT name, from_at, to_at, estimated_rows, detach_pending FROM signal_partitions ORDER BY to_at"
    )
    return [Partition(*row) for row in rows]


async def stored_until(connection: Connection) -> datetime | None:
    """The end of the last partition: a signal received from then on has nowhere to go (None: no partition)."""
    end: datetime | None = await connection.fetchval("SELECT max(to_at) FROM signal_partitions")
    return end


async def create_partition(connection: Connection, month: datetime) -> str | None:
    """Create and attach the partition of the month (UTC) holding `month`; its name, or None when a partition
    already holds any of that month."""
    async with connection.transaction():
        await connection.execute(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'")
        # A day in, so that no time zone reading of the instant can land in the month before.
        name: str | None = await connection.fetchval(
            "SELECT signals_create_partition($1)", month.astimezone(UTC) + timedelta(days=1)
        )
    return name


async def partition_history(connection: Connection, since: datetime) -> list[str]:
    """Lay out a database that has no signals yet for history from `since` on (a benchmark, an import): the first
    partition, empty, narrowed to end at the start of `since`'s month, and a partition for each month from there to
    the first month partition. The names created."""
    first, *months = await partitions(connection)
    start = month_start(since)
    if first.from_at is not None or not months or start >= first.to_at:
        raise ValueError("partition_history needs the first partition of everything before and a later month")
    if await connection.fetchval(f'SELECT EXISTS (SELECT FROM "{first.name}")'):
        raise ValueError(f"{first.name} holds signals: history can be laid out only in an empty database")
    async with connection.transaction():
        await connection.execute(f'ALTER TABLE signals DETACH PARTITION "{first.name}"')
        bounds = f"FROM (MINVALUE) TO ('{start.isoformat()}')"
        await connection.execute(f'ALTER TABLE signals ATTACH PARTITION "{first.name}" FOR VALUES {bounds}')
    created = []
    month = start
    while month < first.to_at:
        name = await create_partition(connection, month)
        if name is not None:
            created.append(name)
        month = month_start(month, 1)
    return created


async def ensure_ahead(connection: Connection, now: datetime, ahead: int) -> list[str]:
    """Create whichever of this month's and the next `ahead` months' partitions is missing; the names created."""
    created = []
    for start in month_starts(now, ahead):
        name = await create_partition(connection, start)
        if name is not None:
            created.append(name)
    return created


class StillCurrent(ValueError):
    """A partition that may still receive signals cannot be detached."""


async def detach_before(connection: Connection, before: datetime, now: datetime) -> list[str]:
    """Detach every partition that holds only times before `before` (a month's start, UTC); the names detached,
    oldest first. Each becomes a table of its own, kept until the operator drops it. Refuses (StillCurrent)
    a `before` later than the start of the current month: a month still being received stays attached."""
    if before > month_start(now):
        raise StillCurrent(f"{before:%Y-%m-%d} is after the start of this month: only past months can be detached")
    detached = []
    for partition in await partitions(connection):
        if partition.to_at <= before:
            # CONCURRENTLY: two transactions, and no lock that stops inserts or reads; not inside a transaction. One
            # interrupted between them is left pending, and FINALIZE completes it.
            how = "FINALIZE" if partition.detach_pending else "CONCURRENTLY"
            await connection.execute(f'ALTER TABLE signals DETACH PARTITION "{partition.name}" {how}')
            log.info("signals partition detached", partition=partition.name, before=before.isoformat())
            detached.append(partition.name)
    return detached


async def partitions_tick(ahead: int, pool: Pool) -> None:
    async with pool.acquire() as connection:
        created = await ensure_ahead(connection, datetime.now(UTC), ahead)
    for name in created:
        log.info("signals partition created ahead", partition=name)


def partitions_job(config: Config) -> Singleton:
    """The worker's singleton that keeps the partitions of the coming months in place."""

    async def tick(pool: Pool) -> None:
        await partitions_tick(config["worker.partitions_ahead"], pool)

    return Singleton("signal-partitions", config["worker.partitions_interval"], tick)
