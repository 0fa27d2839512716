"""A history page reads the months nearest its position first and goes on, window after window, to the filter's end
(PostgreSQL then leaves the other months' partitions out): a quiet customer's years, a rare category's bounded scan
counted across windows, a signal stamped in a coming month, and restores paired across a window's edge."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import asyncpg
import pytest_asyncio

from shared.catalogue import SignalCategory
from shared.config import load_config
from shared.signal_export import csv_row, csv_rows
from shared.signal_history import (
    FIRST_MONTHS,
    LOOKBACK,
    SCAN_ROWS,
    HistoryFilter,
    HistoryLine,
    Position,
    _page_sql,
    _windows,
    history_page,
    history_pool,
)
from shared.signal_partitions import month_start, partition_history
from tests.portal.conftest import Customer, enrol
from tests.shared.test_signal_history import ZONE, all_pages, ids, scope_of, signal

NOW = datetime(2026, 12, 6, 21, 30, tzinfo=UTC)
EVERY = HistoryFilter(ZONE)
POWER = HistoryFilter(ZONE, categories=frozenset({SignalCategory.POWER}))


@pytest_asyncio.fixture
async def alpha(db: asyncpg.Pool) -> Customer:
    """A customer, on signals laid out as a database in service for years: a partition a month for the last three
    years (the first partition holding everything before)."""
    async with db.acquire() as connection:
        await partition_history(connection, datetime.now(UTC) - timedelta(days=3 * 365))
        await enrol(connection, "beta", "B2B2")  # another customer's signals never show
        return await enrol(connection, "alpha", "A1A1")


# --- the windows (pure) -----------------------------------------------------------------------------------------


def test_the_newest_page_starts_at_this_month_and_widens_to_the_filters_start() -> None:
    top = Position(EVERY.bounds()[1], 0)  # no To date: the year 3000
    edges = _windows(top, EVERY, older=True, now=NOW)
    assert edges[0] == datetime(2026, 12 - FIRST_MONTHS + 1, 1, tzinfo=UTC)
    assert edges == sorted(edges, reverse=True) and edges[-1] == EVERY.bounds()[0]
    assert len(edges) == 4  # two months, six more, twenty-four more, then the rest


def test_windows_stop_at_the_filters_own_bounds() -> None:
    july = HistoryFilter(ZONE, start=date(2026, 7, 1), end=date(2026, 7, 31))
    lower, upper = july.bounds()
    assert _windows(Position(upper, 0), july, older=True, now=NOW) == [datetime(2026, 7, 1, 5, tzinfo=UTC)]
    assert _windows(Position(lower, 0), july, older=False, now=NOW) == [upper]
    year = HistoryFilter(ZONE, start=date(2026, 1, 1))
    assert _windows(Position(datetime(2026, 6, 15, tzinfo=UTC), 9), year, older=False, now=NOW) == [
        datetime(2026, 8, 1, tzinfo=UTC),
        datetime(2027, 2, 1, tzinfo=UTC),
        datetime(2029, 2, 1, tzinfo=UTC),
        year.bounds()[1],
    ]


# --- pages over years --------------------------------------------------------------------------------------------


def first_edge() -> datetime:
    """Where the newest page's first window ends going back: the start of last month (UTC)."""
    return month_start(datetime.now(UTC), 1 - FIRST_MONTHS)


async def quiet_years(db: asyncpg.Pool, customer: Customer) -> list[int]:
    """A signal every 11 days for three years before the newest page's first window (every fifth a power loss), two
    in that window, one at its edge, and one stamped in a month to come (a receiver's clock ahead): ids newest first."""
    edge = first_edge()
    stored: list[tuple[datetime, int]] = []
    for n in range(100):
        at = edge - timedelta(days=11 * n + 1, hours=n % 7)
        stored.append((at, await signal(db, customer, at, "301" if n % 5 == 0 else "602", zone="000")))
    for hours, code in ((0, "602"), (1, "602"), (2, "301")):  # the first at the edge itself
        stored.append((edge + timedelta(hours=hours), await signal(db, customer, edge + timedelta(hours=hours), code)))
    ahead = month_start(datetime.now(UTC), 1) + timedelta(days=3)
    stored.append((ahead, await signal(db, customer, ahead, "602", zone="000")))
    return [signal_id for _, signal_id in sorted(stored, reverse=True)]


async def newer_all_the_way(db: asyncpg.Pool, customer: Customer, wanted: HistoryFilter, **kw: int) -> list[int]:
    """From the oldest page back to the newest with Newer: the ids newest first. The newest page is rebuilt as it is
    now, so it may repeat rows of the page before it; no other row may come twice, and none may be skipped."""
    pages: list[list[HistoryLine]] = []
    async with db.acquire() as connection:
        page = await history_page(connection, scope_of(customer), wanted, **kw)
        while page.older is not None:
            page = await history_page(connection, scope_of(customer), wanted, after=page.older, **kw)
        pages.append(page.lines)
        while page.newer is not None:
            page = await history_page(connection, scope_of(customer), wanted, before=page.newer, **kw)
            pages.append(page.lines)
    below_newest = [signal_id for lines in pages[:-1] for signal_id in ids(lines)]
    assert len(below_newest) == len(set(below_newest))
    return list(dict.fromkeys(signal_id for lines in reversed(pages) for signal_id in ids(lines)))


async def test_a_quiet_customers_years_page_in_order_both_ways(db: asyncpg.Pool, alpha: Customer) -> None:
    expected = await quiet_years(db, alpha)
    lines = await all_pages(db, alpha, EVERY, limit=7)
    assert ids(lines) == expected  # the coming month's signal first; every one once, across every window
    assert await newer_all_the_way(db, alpha, EVERY, limit=7) == expected


async def test_a_rare_categorys_scan_counts_every_window_it_read(db: asyncpg.Pool, alpha: Customer) -> None:
    expected = await quiet_years(db, alpha)
    power = [row["id"] for row in await db.fetch("SELECT id FROM signals WHERE category = 'power'")]
    power.sort(key=expected.index)
    async with db.acquire() as connection:
        # Five rows in all: the first window holds four, so the scan goes on into the next and stops at the fifth
        # newest row overall (not five rows into that window).
        page = await history_page(connection, scope_of(alpha), POWER, limit=50, scan=5)
        fifth = await connection.fetchval("SELECT received_at FROM signals WHERE id = $1", expected[4])
    assert ids(page.lines) == [s for s in expected[:5] if s in power] and page.searched_to == fifth
    lines = await all_pages(db, alpha, POWER, limit=3, scan=5)
    assert ids(lines) == power
    assert await newer_all_the_way(db, alpha, POWER, limit=3, scan=5) == power


async def test_a_date_range_of_a_year_pages_within_it(db: asyncpg.Pool, alpha: Customer) -> None:
    expected = await quiet_years(db, alpha)
    today = datetime.now(ZONE).date()
    year = HistoryFilter(ZONE, start=today - timedelta(days=500), end=today - timedelta(days=140))
    lower, upper = year.bounds()
    rows = await db.fetch("SELECT id, received_at FROM signals WHERE id = ANY($1)", expected)
    inside = [row["id"] for row in rows if lower <= row["received_at"] < upper]
    assert ids(await all_pages(db, alpha, year, limit=4)) == sorted(inside, key=expected.index) and len(inside) > 25


async def test_a_restore_pairs_with_its_event_across_a_windows_edge(db: asyncpg.Pool, alpha: Customer) -> None:
    """The event below the first window's edge and just within LOOKBACK of its restore, which is just above the
    edge: the page shows the restore ending it, and so does the export of a range starting after the event."""
    edge = first_edge()
    restore_at = edge + timedelta(hours=1)
    event_at = restore_at - LOOKBACK + timedelta(minutes=10)
    event = await signal(db, alpha, event_at, "130", zone="005")
    restore = await signal(db, alpha, restore_at, "130", "restore", zone="005")
    for hours in range(2, 30):  # rows of the first window above the restore, fewer than a page
        await signal(db, alpha, edge + timedelta(hours=hours), "602", zone="000")
    from_restores_day = HistoryFilter(ZONE, start=restore_at.astimezone(ZONE).date())
    assert from_restores_day.bounds()[0] > event_at  # the event is before the exported range
    async with db.acquire() as connection:
        page = await history_page(connection, scope_of(alpha), EVERY, limit=40)
        exported = [row async for row in csv_rows(connection, scope_of(alpha), from_restores_day)]
    line = next(line for line in page.lines if line.signal.id == restore)
    assert line.restores is not None and line.restores.id == event
    assert csv_row(line, ZONE) in exported


async def test_a_restore_on_a_newer_page_pairs_with_an_event_before_where_the_page_starts(
    db: asyncpg.Pool, alpha: Customer
) -> None:
    """Newer from the oldest page: the window starts after the event, the restore's walk must still reach it."""
    t0 = datetime.now(UTC) - timedelta(days=200)
    event = await signal(db, alpha, t0, "130", zone="005")
    await signal(db, alpha, t0 + timedelta(days=1), "602", zone="000")
    restore = await signal(db, alpha, t0 + LOOKBACK - timedelta(hours=4), "130", "restore", zone="005")
    for hours in range(1, 4):
        await signal(db, alpha, t0 + LOOKBACK + timedelta(hours=hours), "602", zone="000")
    async with db.acquire() as connection:
        page = await history_page(connection, scope_of(alpha), EVERY, limit=2)
        while page.older is not None:
            page = await history_page(connection, scope_of(alpha), EVERY, after=page.older, limit=2)
        assert ids(page.lines)[-1] == event and page.newer is not None  # the oldest page: the filler, then the event
        newer = await history_page(connection, scope_of(alpha), EVERY, before=page.newer, limit=2)
    line = next(line for line in newer.lines if line.signal.id == restore)
    assert line.restores is not None and line.restores.id == event


async def test_restores_pair_across_a_change_of_daylight_saving_time(db: asyncpg.Pool, alpha: Customer) -> None:
    """LOOKBACK is elapsed time, never a count of days on some clock: from a From date in the portal's zone after
    its clocks went forward (Chicago, 2026-03-08), a restore reaches its event 743 h 40 min back; in a database
    session whose clocks went back (Berlin, 2026-10-25: 31 days there are 745 hours) one reaches 743 hours back and
    another not 744 and a half, though that event is inside the window's look-back bound."""
    march = await signal(db, alpha, datetime(2026, 3, 5, 5, 40, tzinfo=UTC), "130", zone="005")
    april = await signal(db, alpha, datetime(2026, 4, 5, 5, 20, tzinfo=UTC), "130", "restore", zone="005")
    first_window = datetime(2026, 11, 1, tzinfo=UTC)  # the first window's edge going back from 2026-11-30
    paired_in_berlin = first_window + timedelta(minutes=10)
    too_far_in_berlin = first_window + timedelta(hours=2)  # its event at 2026-10-01 01:30, after the bound (00:00)
    within = await signal(db, alpha, paired_in_berlin - timedelta(hours=743), "130", zone="006")
    await signal(db, alpha, too_far_in_berlin - timedelta(hours=744, minutes=30), "130", zone="007")
    restore_within = await signal(db, alpha, paired_in_berlin, "130", "restore", zone="006")
    await signal(db, alpha, too_far_in_berlin, "130", "restore", zone="007")
    april_5 = HistoryFilter(ZONE, start=date(2026, 4, 5), end=date(2026, 4, 5))  # from 05:00 UTC
    to_november = HistoryFilter(ZONE, end=date(2026, 11, 30))
    assert _windows(Position(to_november.bounds()[1], 0), to_november, older=True, now=NOW)[0] == first_window
    async with db.acquire() as connection:
        pages = [await history_page(connection, scope_of(alpha), april_5, limit=10)]
        exported = [row async for row in csv_rows(connection, scope_of(alpha), april_5)]
        await connection.execute("SET timezone = 'Europe/Berlin'")
        try:
            pages.append(await history_page(connection, scope_of(alpha), to_november, limit=10))
        finally:
            await connection.execute("RESET timezone")
    paired = [{line.signal.id: line.restores.id for line in page.lines if line.restores} for page in pages]
    assert paired == [{april: march}, {april: march, restore_within: within}]
    assert len(exported) == 1 and exported[0][9]  # the export pairs it too (its last column: the event restored)


async def test_the_newest_page_reads_only_its_window_of_months_in_order(
    db: asyncpg.Pool, alpha: Customer, database_url: str
) -> None:
    """As the portal's history sessions plan it: partitions before the first window (and the restores' look back
    from it) are left out of the plan, and nothing is sorted (the walk back of each restore is read in order and
    stops after LOOKBACK_ROWS)."""
    await quiet_years(db, alpha)
    now = datetime.now(UTC)
    edge = month_start(now, 1 - FIRST_MONTHS)
    await signal(db, alpha, edge + timedelta(hours=3), "130", "restore", zone="001")
    position = Position(EVERY.bounds()[1], 0)
    assert _windows(position, EVERY, older=True, now=now)[0] == edge
    sql, values = _page_sql(scope_of(alpha), EVERY, position, edge, older=True, limit=50, scan=SCAN_ROWS)
    one = {"ALARMHUB_DATABASE_POOL_MIN_SIZE": "1", "ALARMHUB_DATABASE_POOL_MAX_SIZE": "1"}
    pool = await history_pool(load_config(None, environ=one), database_url)
    try:
        async with pool.acquire() as connection:
            await connection.execute("ANALYZE signals")
            plan = "\n".join(row[0] for row in await connection.fetch(f"EXPLAIN {sql}", *values))
            older = await connection.fetch("SELECT name FROM signal_partitions WHERE to_at <= $1", edge - LOOKBACK)
    finally:
        await pool.close()
    assert len(older) > 30 and not any(row["name"] in plan for row in older), plan
    assert "Sort" not in plan and "Bitmap" not in plan, plan
