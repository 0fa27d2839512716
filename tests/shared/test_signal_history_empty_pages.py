"""Turning back from an empty page of a narrowed history (its bounded scan found nothing) shows the row its link
came from again: Newer after an empty Older page, Older after an empty Newer page (found by review)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import asyncpg

from shared.catalogue import SignalCategory
from shared.scope import CustomerScope
from shared.signal_history import HistoryFilter, HistoryPage, history_page
from tests.portal.conftest import Customer, enrol
from tests.shared.test_signal_history import ZONE, signal

POWER = HistoryFilter(ZONE, categories=frozenset({SignalCategory.POWER}))


async def store(db: asyncpg.Pool, customer: Customer, pattern: str) -> list[int]:
    base = datetime.now(UTC) - timedelta(hours=1)
    ids = []
    for i, kind in enumerate(pattern):  # oldest first; M = power, x = test
        ids.append(await signal(db, customer, base + timedelta(minutes=i), "301" if kind == "M" else "602", zone="000"))
    return ids


def shown(page: HistoryPage) -> list[int]:
    return [line.signal.id for line in page.lines]


async def test_newer_from_an_empty_older_page_skips_the_previous_pages_oldest_row(db: asyncpg.Pool) -> None:
    async with db.acquire() as c:
        alpha = await enrol(c, "alpha", "A1A1")
        await c.execute("DELETE FROM signals")
    ids = await store(db, alpha, "xxxxMxMMM")  # ids[0] oldest
    scope = CustomerScope(alpha.customer_id, alpha.owner_id)
    async with db.acquire() as c:
        p1 = await history_page(c, scope, POWER, limit=2, scan=3)
        p2 = await history_page(c, scope, POWER, after=p1.older, limit=2, scan=3)
        p3 = await history_page(c, scope, POWER, after=p2.older, limit=2, scan=3)
        assert shown(p2) == [ids[6], ids[4]] and shown(p3) == []
        back = await history_page(c, scope, POWER, before=p3.newer, limit=2, scan=3)
        assert ids[4] in shown(back), "row shown on p2 is skipped going Newer"


async def test_older_from_an_empty_newer_page_skips_the_row_it_came_from(db: asyncpg.Pool) -> None:
    async with db.acquire() as c:
        alpha = await enrol(c, "alpha", "A1A1")
        await c.execute("DELETE FROM signals")
    ids = await store(db, alpha, "MMxxxxMMM")
    scope = CustomerScope(alpha.customer_id, alpha.owner_id)
    async with db.acquire() as c:
        pages = [await history_page(c, scope, POWER, limit=2, scan=3)]
        while pages[-1].older is not None:
            pages.append(await history_page(c, scope, POWER, after=pages[-1].older, limit=2, scan=3))
        page = next(p for p in pages if shown(p) == [ids[1]])
        q = await history_page(c, scope, POWER, before=page.newer, limit=2, scan=3)
        assert shown(q) == []
        again = await history_page(c, scope, POWER, after=q.older, limit=2, scan=3)
        assert ids[1] in shown(again), "the row of the page we came from is skipped going back Older"
