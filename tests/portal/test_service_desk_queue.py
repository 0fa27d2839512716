"""The staff queue of service requests: every customer's requests oldest first, each filter, keyset pages, and
who may see it."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest

from portal.service_desk import present, queries
from portal.service_desk.queries import Cursor, QueueFilter
from tests.portal.conftest import Customer, Portal
from tests.portal.service_desk_setup import add_request, staff_id

_ROW_ID = re.compile(r'href="/staff/service/([0-9]+)"')


def listed(page: str) -> list[int]:
    """The request ids in the queue's table, top to bottom."""
    return [int(found) for found in _ROW_ID.findall(page)]


async def queue_ids(portal: Portal, query: str = "") -> list[int]:
    response = await portal.get(f"/staff/service{query}")
    assert response.status == 200
    return listed(await response.text())


async def test_the_queue_lists_every_customers_open_requests_oldest_first_with_their_age(
    portal: Portal, db: asyncpg.Pool, customers: tuple[Customer, Customer]
) -> None:
    alpha, beta = customers
    admin = await staff_id(db, "admin@example.com")
    newest = await add_request(db, alpha, minutes_ago=5, kind="inquiry", topic="Billing question", with_site=False)
    oldest = await add_request(db, beta, minutes_ago=3 * 24 * 60 + 125, topic="Battery replacement")
    middle = await add_request(db, alpha, minutes_ago=190, status="answered", holder_id=admin)
    await add_request(db, alpha, minutes_ago=4 * 24 * 60, status="completed")  # closed: not in the default queue
    await add_request(db, beta, minutes_ago=5 * 24 * 60, status="cancelled")

    await portal.login("dispatcher@example.com")
    response = await portal.get("/staff/service")
    page = await response.text()
    assert response.status == 200
    assert listed(page) == [oldest, middle, newest]
    assert '<a href="/staff/service" aria-current="page">Service requests</a>' in page  # the staff menu entry
    assert f'href="/staff/customers/{beta.customer_id}">Customer beta</a>' in page
    assert "3 d 2 h" in page and "3 h 10 min" in page and "5 min" in page
    assert "Battery replacement" in page and "Billing question" in page
    assert "beta Street 1" in page  # the premises of a request for service
    assert "General inquiry" in page and "Request for service" in page
    held = page.split(f'href="/staff/service/{middle}"')[1].split("</tr>")[0]
    assert "Answered" in held and "admin@example.com" in held
    waiting = page.split(f'href="/staff/service/{oldest}"')[1].split("</tr>")[0]
    assert "Nobody" in waiting and "Open" in waiting


async def test_each_filter_narrows_the_queue(
    portal: Portal, db: asyncpg.Pool, customers: tuple[Customer, Customer]
) -> None:
    alpha, beta = customers
    dispatcher = await staff_id(db, "dispatcher@example.com")
    admin = await staff_id(db, "admin@example.com")
    inquiry = await add_request(db, alpha, minutes_ago=60, kind="inquiry", topic="False alarm", with_site=False)
    mine = await add_request(db, beta, minutes_ago=50, topic="Repair", holder_id=dispatcher)
    theirs = await add_request(db, alpha, minutes_ago=40, topic="Inspection", status="scheduled", holder_id=admin)
    done = await add_request(db, beta, minutes_ago=30, topic="Repair", status="completed")
    cancelled = await add_request(db, alpha, minutes_ago=20, kind="inquiry", topic="Moving", status="cancelled")

    await portal.login("dispatcher@example.com")
    assert await queue_ids(portal) == [inquiry, mine, theirs]
    assert await queue_ids(portal, "?status=not_closed") == [inquiry, mine, theirs]
    assert await queue_ids(portal, "?status=all") == [inquiry, mine, theirs, done, cancelled]
    assert await queue_ids(portal, "?status=open") == [inquiry, mine]
    assert await queue_ids(portal, "?status=scheduled") == [theirs]
    assert await queue_ids(portal, "?status=completed") == [done]
    assert await queue_ids(portal, "?status=cancelled") == [cancelled]
    assert await queue_ids(portal, "?kind=inquiry&status=all") == [inquiry, cancelled]
    assert await queue_ids(portal, "?kind=service") == [mine, theirs]
    assert await queue_ids(portal, "?topic=Repair&status=all") == [mine, done]
    assert await queue_ids(portal, "?holder=me") == [mine]
    assert await queue_ids(portal, "?holder=nobody") == [inquiry]
    assert await queue_ids(portal, "?holder=anyone") == [inquiry, mine, theirs]
    assert await queue_ids(portal, "?holder=me&kind=inquiry") == []
    # The filters combine, and the form shows what was chosen.
    page = await (await portal.get("/staff/service?status=all&kind=service&topic=Repair&holder=nobody")).text()
    assert listed(page) == [done]
    assert '<option value="all" selected>' in page and '<option value="Repair" selected>' in page
    assert '<option value="nobody" selected>' in page and '<option value="service" selected>' in page
    # Values that are not among the choices mean the default, never an error.
    assert await queue_ids(portal, "?status=bogus&kind=x&holder=%27") == [inquiry, mine, theirs]
    assert "No requests match these filters." in await (await portal.get("/staff/service?topic=Nothing")).text()
    # The admin's "me" is the admin's.
    await portal.logout()
    await portal.login("admin@example.com")
    assert await queue_ids(portal, "?holder=me") == [theirs]


async def test_pages_follow_one_another_without_skipping_or_repeating_a_request(
    portal: Portal, db: asyncpg.Pool, customers: tuple[Customer, Customer], monkeypatch: pytest.MonkeyPatch
) -> None:
    alpha, beta = customers
    ids = [await add_request(db, (alpha, beta)[n % 2], minutes_ago=100 - n) for n in range(7)]
    # Two requests submitted in the same instant: the id breaks the tie, so a page boundary between them holds.
    await db.execute(
        "UPDATE service_requests SET created_at = (SELECT created_at FROM service_requests WHERE id = $1) "
        "WHERE id = $2",
        ids[2],
        ids[3],
    )
    monkeypatch.setattr(queries, "QUEUE_PAGE", 3)
    await portal.login("dispatcher@example.com")
    seen: list[int] = []
    url = "/staff/service?status=not_closed"
    for _ in range(5):
        page = await (await portal.get(url)).text()
        seen += listed(page)
        following = re.search(r'href="(/staff/service\?[^"]+after=[^"]+)">Newer requests', page)
        if following is None:
            break
        url = following.group(1).replace("&amp;", "&")
    assert seen == ids
    assert "Back to the oldest" in page
    # A malformed cursor is the first page, not an error.
    assert await queue_ids(portal, "?after=yesterday_12") == ids[:3]
    assert await queue_ids(portal, "?after=2026-01-01T00:00:00_99999999999999999999") == ids[:3]


async def test_the_queue_query_pages_by_age_and_id(db: asyncpg.Pool, customers: tuple[Customer, Customer]) -> None:
    alpha, _ = customers
    ids = [await add_request(db, alpha, minutes_ago=10 - n) for n in range(5)]
    async with db.acquire() as connection:
        first = await queries.queue(connection, QueueFilter(), staff_id=0, limit=2)
        assert [r["id"] for r in first.rows] == ids[:2] and first.next_cursor is not None
        decoded = Cursor.decode(first.next_cursor.encode())
        assert decoded == first.next_cursor
        second = await queries.queue(connection, QueueFilter(), staff_id=0, after=decoded, limit=2)
        third = await queries.queue(connection, QueueFilter(), staff_id=0, after=second.next_cursor, limit=2)
    assert [r["id"] for r in second.rows] == ids[2:4]
    assert [r["id"] for r in third.rows] == ids[4:] and third.next_cursor is None
    assert Cursor.decode("2026-01-01T00:00:00_5") is None  # no time zone: not a cursor this page made


def test_ages_read_in_the_two_largest_units() -> None:
    now = datetime(2026, 12, 5, 12, 0, tzinfo=UTC)
    assert present.age(now, now) == "just now"
    assert present.age(now - timedelta(seconds=59), now) == "just now"
    assert present.age(now - timedelta(minutes=7), now) == "7 min"
    assert present.age(now - timedelta(hours=5, minutes=12), now) == "5 h 12 min"
    assert present.age(now - timedelta(days=3, hours=4, minutes=59), now) == "3 d 4 h"
    assert present.age(now + timedelta(minutes=3), now) == "just now"  # a clock a little ahead


async def test_customers_are_refused_the_queue_and_see_no_menu_entry(
    portal: Portal, db: asyncpg.Pool, customers: tuple[Customer, Customer]
) -> None:
    alpha, _ = customers
    await add_request(db, alpha, minutes_ago=10, comments="the keypad beeps")
    for email in (alpha.owner_email, alpha.secondary_email):
        await portal.login(email)
        response = await portal.get("/staff/service")
        assert response.status == 403
        assert "the keypad beeps" not in await response.text()
        assert "/staff/service" not in await (await portal.get("/dashboard")).text()
        await portal.logout()
