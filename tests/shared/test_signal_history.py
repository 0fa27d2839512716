"""Signal history: filters at the portal's day boundaries, keyset paging while signals arrive, restores paired with
their event, the signed cursor, and the CSV rows matching the pages row for row."""

from __future__ import annotations

import itertools
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import asyncpg
import pytest
import pytest_asyncio

from shared.catalogue import CONTACT_ID, SIA_DCS, SignalCategory, classify
from shared.config import load_config
from shared.enrolment import add_panel, add_site
from shared.scope import CustomerScope
from shared.signal_export import CSV_HEADER, csv_row, csv_rows
from shared.signal_history import (
    CursorCodec,
    HistoryFilter,
    HistoryLine,
    InvalidCursor,
    Position,
    Premises,
    history_page,
    history_pool,
    premises_of,
)
from tests.portal.conftest import Customer, enrol

ZONE = ZoneInfo("America/Chicago")
_sequence = itertools.count(1)


@pytest_asyncio.fixture
async def pair(db: asyncpg.Pool) -> tuple[Customer, Customer]:
    async with db.acquire() as connection:
        return await enrol(connection, "alpha", "A1A1"), await enrol(connection, "beta", "B2B2")


def scope_of(customer: Customer) -> CustomerScope:
    return CustomerScope(customer.customer_id, customer.owner_id)


async def signal(
    db: asyncpg.Pool,
    customer: Customer,
    at: datetime,
    code: str = "130",
    qualifier: str = "event",
    *,
    format: str = CONTACT_ID,
    zone: str | None = "001",
    partition: str | None = "01",
    user: str | None = None,
    description: str | None = None,
    account: str | None = None,
    site_id: int | None = None,
    panel_id: int | None = None,
) -> int:
    """A stored signal as the receiver writes it: the catalogue's category and text for the code."""
    meaning = classify(format, code, qualifier)
    signal_id: int = await db.fetchval(
        "INSERT INTO signals (account, panel_id, site_id, customer_id, transport, sequence, format, code, qualifier, "
        "zone, partition, user_number, category, priority, description, raw_frame, received_at) "
        "VALUES ($1, $2, $3, $4, 'tcp', $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, '\\x00', $15) RETURNING id",
        account or customer.account,
        panel_id or customer.panel_id,
        site_id or customer.site_id,
        customer.customer_id,
        f"{next(_sequence):04d}",
        format,
        code,
        meaning.qualifier.value,
        zone,
        partition,
        user,
        meaning.category.value,
        meaning.priority,
        description or meaning.text,
        at,
    )
    return signal_id


def local(day: date, hour: int = 0, minute: int = 0, second: float = 0) -> datetime:
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=ZONE) + timedelta(seconds=second)


async def all_pages(
    db: asyncpg.Pool, customer: Customer, wanted: HistoryFilter, *, limit: int = 7, scan: int = 10_000
) -> list[HistoryLine]:
    lines: list[HistoryLine] = []
    after: Position | None = None
    async with db.acquire() as connection:
        while True:
            page = await history_page(connection, scope_of(customer), wanted, after=after, limit=limit, scan=scan)
            lines += page.lines
            if page.older is None:
                return lines
            after = page.older


def ids(lines: list[HistoryLine]) -> list[int]:
    return [line.signal.id for line in lines]


def parse(query: dict[str, str], categories: tuple[str, ...] = (), premises: list[Premises] | None = None):  # type: ignore[no-untyped-def]
    return HistoryFilter.parse(query, categories, timezone=ZONE, premises=premises or [])


# --- the filter -------------------------------------------------------------------------------------------------


def test_the_filter_reads_dates_categories_and_premises_and_names_each_wrong_field() -> None:
    premises = [Premises(7, "Home", "1 Elm St"), Premises(9, "Shop", "2 Oak St")]
    wanted, errors = parse(
        {"from": "2026-03-07", "to": "2026-03-08", "site": "9"}, ("alarm", "power"), premises=premises
    )
    assert errors == {}
    assert wanted.categories == {SignalCategory.ALARM, SignalCategory.POWER} and wanted.site_id == 9
    # Chicago's clocks go forward on 2026-03-08: that day has 23 hours, and the bounds say so.
    lower, upper = wanted.bounds()
    assert lower == datetime(2026, 3, 7, 6, tzinfo=UTC) and upper == datetime(2026, 3, 9, 5, tzinfo=UTC)
    assert wanted.query() == [
        ("from", "2026-03-07"),
        ("to", "2026-03-08"),
        ("category", "alarm"),
        ("category", "power"),
        ("site", "9"),
    ]

    wanted, errors = parse({"from": "2026-13-01", "to": "1969-12-31", "site": "8"}, ("alarm", "nonsense"), premises)
    assert set(errors) == {"from", "to", "site", "category"}
    assert wanted == HistoryFilter(ZONE, categories=frozenset({SignalCategory.ALARM}))  # the wrong parts left out

    _, errors = parse({"from": "2026-05-02", "to": "2026-05-01"})
    assert errors == {"to": "the end date is before the start date"}
    for site in ("-1", "0", "99999999999999999999", "1e3", "x"):
        assert parse({"site": site}, premises=premises)[1] == {"site": "choose one of your premises"}


async def test_dates_are_whole_days_in_the_portals_time_zone(db: asyncpg.Pool, pair: tuple[Customer, Customer]) -> None:
    alpha, _ = pair
    day = date(2026, 11, 20)
    before = await signal(db, alpha, local(day) - timedelta(microseconds=1))
    first = await signal(db, alpha, local(day))
    last = await signal(db, alpha, local(day, 23, 59, 59.999999))
    after = await signal(db, alpha, local(day + timedelta(days=1)))
    one_day, _ = parse({"from": "2026-11-20", "to": "2026-11-20"})
    assert ids(await all_pages(db, alpha, one_day)) == [last, first]
    since, _ = parse({"from": "2026-11-20"})
    assert ids(await all_pages(db, alpha, since)) == [after, last, first]
    until, _ = parse({"to": "2026-11-19"})
    assert ids(await all_pages(db, alpha, until)) == [before]


async def test_categories_and_premises_narrow_the_rows(db: asyncpg.Pool, pair: tuple[Customer, Customer]) -> None:
    alpha, beta = pair
    async with db.acquire() as connection:
        shop = await add_site(connection, customer_id=alpha.customer_id, name="Shop", address="2 Oak St")
        shop_panel = await add_panel(connection, site_id=shop, account="A2A2")
        premises = await premises_of(connection, scope_of(alpha))
    now = datetime.now(UTC)
    alarm = await signal(db, alpha, now - timedelta(minutes=5))
    power = await signal(db, alpha, now - timedelta(minutes=4), "301", zone="000")
    test = await signal(db, alpha, now - timedelta(minutes=3), "602", zone="000")
    shop_alarm = await signal(db, alpha, now - timedelta(minutes=2), account="A2A2", site_id=shop, panel_id=shop_panel)
    await signal(db, beta, now - timedelta(minutes=1))

    wanted, _ = parse({}, ("alarm", "power"), premises)
    assert ids(await all_pages(db, alpha, wanted)) == [shop_alarm, power, alarm]
    wanted, _ = parse({"site": str(alpha.site_id)}, (), premises)
    assert ids(await all_pages(db, alpha, wanted)) == [test, power, alarm]
    wanted, _ = parse({"site": str(shop)}, ("alarm",), premises)
    lines = await all_pages(db, alpha, wanted)
    assert ids(lines) == [shop_alarm] and lines[0].premises == "Shop"
    # Beta naming alpha's premises: a field error, and the filter keeps nothing of it.
    wanted, errors = parse({"site": str(alpha.site_id)}, (), await premises_of(db, scope_of(beta)))
    assert errors == {"site": "choose one of your premises"} and wanted.site_id is None
    assert all(line.signal.account == beta.account for line in await all_pages(db, beta, wanted))


# --- paging -----------------------------------------------------------------------------------------------------


async def test_paging_skips_and_repeats_nothing_while_signals_arrive(
    db: asyncpg.Pool, pair: tuple[Customer, Customer]
) -> None:
    alpha, beta = pair
    base = datetime.now(UTC) - timedelta(hours=1)
    stored = []
    for minute in range(20):
        for _ in range(2 if minute % 3 else 1):  # many share a received_at: only the id tells them apart
            stored.append(await signal(db, alpha, base + timedelta(minutes=minute)))
        await signal(db, beta, base + timedelta(minutes=minute))
    wanted, _ = parse({})
    scope = scope_of(alpha)
    seen: list[HistoryLine] = []
    async with db.acquire() as connection:
        page = await history_page(connection, scope, wanted, limit=5)
        seen += page.lines
        # Newer signals arrive, one of them at the very instant of the page's last row.
        await signal(db, alpha, datetime.now(UTC))
        await signal(db, alpha, page.lines[-1].signal.received_at)
        while page.older is not None:
            page = await history_page(connection, scope, wanted, after=page.older, limit=5)
            seen += page.lines
    expected = await db.fetch("SELECT id FROM signals WHERE id = ANY($1) ORDER BY received_at DESC, id DESC", stored)
    assert ids(seen) == [row["id"] for row in expected]  # every row once, in order; the newer ones on page 1's side


async def test_newer_goes_back_to_the_same_page_and_the_newest_page_has_no_newer(
    db: asyncpg.Pool, pair: tuple[Customer, Customer]
) -> None:
    alpha, _ = pair
    base = datetime.now(UTC) - timedelta(hours=1)
    for minute in range(12):
        await signal(db, alpha, base + timedelta(minutes=minute))
    wanted, _ = parse({})
    async with db.acquire() as connection:
        first = await history_page(connection, scope_of(alpha), wanted, limit=4)
        second = await history_page(connection, scope_of(alpha), wanted, after=first.older, limit=4)
        third = await history_page(connection, scope_of(alpha), wanted, after=second.older, limit=4)
        assert first.newer is None and third.older is None and len(third.lines) == 4
        back = await history_page(connection, scope_of(alpha), wanted, before=third.newer, limit=4)
        assert ids(back.lines) == ids(second.lines) and back.older == second.older
        top = await history_page(connection, scope_of(alpha), wanted, before=back.newer, limit=4)
        assert ids(top.lines) == ids(first.lines) and top.newer is None


async def test_a_rare_category_is_searched_in_bounded_steps_without_losing_a_row(
    db: asyncpg.Pool, pair: tuple[Customer, Customer]
) -> None:
    alpha, _ = pair
    base = datetime.now(UTC) - timedelta(hours=2)
    power = []
    for minute in range(60):
        rare = minute in (3, 4, 40)
        stored = await signal(db, alpha, base + timedelta(minutes=minute), "301" if rare else "602", zone="000")
        if rare:
            power.append(stored)
    wanted, _ = parse({}, ("power",))
    async with db.acquire() as connection:
        page = await history_page(connection, scope_of(alpha), wanted, limit=5, scan=10)
        assert page.lines == [] and page.searched_to == base + timedelta(minutes=50)  # read 59..50: none matched
    lines = await all_pages(db, alpha, wanted, limit=2, scan=10)
    assert ids(lines) == power[::-1]


# --- restores ---------------------------------------------------------------------------------------------------


async def test_restores_are_paired_with_the_event_they_end(db: asyncpg.Pool, pair: tuple[Customer, Customer]) -> None:
    alpha, beta = pair
    t = datetime.now(UTC) - timedelta(hours=3)
    alarm = await signal(db, alpha, t, "130", zone="003")
    await signal(db, alpha, t + timedelta(minutes=1), "130", zone="004")  # another zone
    await signal(db, beta, t + timedelta(minutes=2), "130", "restore", zone="003")  # another customer
    restore = await signal(db, alpha, t + timedelta(minutes=3), "130", "restore", zone="003")
    again = await signal(db, alpha, t + timedelta(minutes=4), "130", "restore", zone="003")  # restored already
    closing = await signal(db, alpha, t + timedelta(minutes=5), "401", "restore", zone=None, user="002")
    sia_alarm = await signal(db, alpha, t + timedelta(minutes=6), "BA", format=SIA_DCS, zone="5")
    sia_restore = await signal(db, alpha, t + timedelta(minutes=7), "BH", format=SIA_DCS, zone="5")
    old_alarm = await signal(db, alpha, t - timedelta(days=40), "110", zone="002")
    too_late = await signal(db, alpha, t, "110", "restore", zone="002")  # 40 days on: beyond the lookback
    wanted, _ = parse({})
    lines = {line.signal.id: line for line in await all_pages(db, alpha, wanted, limit=50)}
    assert lines[restore].restores is not None and lines[restore].restores.id == alarm
    assert lines[restore].restores.text == "Burglary alarm"
    assert lines[alarm].restored_at == lines[restore].signal.received_at
    assert lines[again].restores is None and lines[closing].restores is None and lines[too_late].restores is None
    assert lines[sia_restore].restores is not None and lines[sia_restore].restores.id == sia_alarm
    assert lines[old_alarm].restored_at is None
    # On separate pages the restore still names its event; the event cannot know of a restore on another page.
    paged = {line.signal.id: line for line in await all_pages(db, alpha, wanted, limit=1)}
    assert paged[restore].restores == lines[restore].restores and paged[alarm].restored_at is None


# --- the cursor -------------------------------------------------------------------------------------------------


def test_a_cursor_round_trips_and_an_edited_or_foreign_one_is_refused() -> None:
    codec = CursorCodec(b"k" * 32)
    alpha, beta = CustomerScope(1, 1), CustomerScope(2, 2)
    position = Position(datetime(2025, 6, 1, 12, 30, 15, 123456, tzinfo=UTC), 987654321)
    text = codec.encode(position, alpha)
    assert codec.decode(text, alpha) == position and text.isascii() and "=" not in text
    edited = text[:5] + ("A" if text[5] != "A" else "B") + text[6:]
    for bad in (edited, text[:-2], text + "AA", "", "%%%", "é", "A" * 500, "=="):
        with pytest.raises(InvalidCursor):
            codec.decode(bad, alpha)
    with pytest.raises(InvalidCursor):
        codec.decode(text, beta)
    with pytest.raises(InvalidCursor):
        CursorCodec(b"x" * 32).decode(text, alpha)


# --- CSV --------------------------------------------------------------------------------------------------------


async def test_the_csv_rows_are_the_pages_rows_and_formulas_are_defused(
    db: asyncpg.Pool, pair: tuple[Customer, Customer]
) -> None:
    alpha, beta = pair
    t = datetime.now(UTC) - timedelta(days=3)
    for minute in range(40):
        code, qualifier = [("130", "event"), ("130", "restore"), ("301", "event"), ("401", "event")][minute % 4]
        await signal(db, alpha, t + timedelta(minutes=minute), code, qualifier, zone=f"{minute % 3:03d}")
    await signal(db, alpha, t, description='=HYPERLINK("http://evil")')
    await signal(db, beta, t)
    for query, categories in (
        ({}, ()),
        ({"from": (t + timedelta(minutes=10)).astimezone(ZONE).date().isoformat()}, ("alarm",)),
    ):
        wanted, _ = parse(query, categories)
        async with db.acquire() as connection:
            exported = [row async for row in csv_rows(connection, scope_of(alpha), wanted, chunk=7)]
        expected = [csv_row(line, ZONE) for line in await all_pages(db, alpha, wanted, limit=6)]
        assert exported == expected and len(exported) > 10
    assert len(CSV_HEADER) == len(exported[0])
    wanted, _ = parse({})
    async with db.acquire() as connection:
        rows = [row async for row in csv_rows(connection, scope_of(alpha), wanted)]
    assert [row[2] for row in rows if "HYPERLINK" in row[2]] == ['\'=HYPERLINK("http://evil")']
    restore = next(row for row in rows if row[9])
    assert restore[9].startswith("Burglary alarm at ") and restore[0].endswith(("-06:00", "-05:00"))
    assert all(row[6] == alpha.account for row in rows)


async def test_the_history_pool_plans_with_jit_bitmap_scans_and_sorts_off(database_url: str) -> None:
    """The pages' statements carry no settings of their own: the sessions they run in must (HISTORY_SETTINGS) — a
    bitmap scan made each restore's pairing read a month of a busy customer's signals."""
    one = {"ALARMHUB_DATABASE_POOL_MIN_SIZE": "1", "ALARMHUB_DATABASE_POOL_MAX_SIZE": "1"}  # the same session each time
    pool = await history_pool(load_config(None, environ=one), database_url)
    try:
        for _ in range(2):  # and still after a release (the pool's reset)
            async with pool.acquire() as connection:
                assert await connection.fetchval("SHOW enable_bitmapscan") == "off"
                assert await connection.fetchval("SHOW jit") == "off"
                assert await connection.fetchval("SHOW enable_sort") == "off"
        async with pool.acquire() as connection:  # a transaction left open is rolled back on release all the same
            await connection.execute("BEGIN")
        async with pool.acquire() as connection:
            assert not connection.is_in_transaction()
    finally:
        await pool.close()
