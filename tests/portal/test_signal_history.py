"""The Signal history page and its CSV export: filters, paging links, a stale cursor, who sees what."""

from __future__ import annotations

import csv
import io
import re
from datetime import UTC, datetime, timedelta

import asyncpg

from shared.enrolment import add_panel, add_site
from tests.portal.conftest import Customer, Portal
from tests.shared.test_signal_history import signal

ROW = re.compile(r'<tr class="signal[^"]*">(.*?)</tr>', re.S)


def rows_of(html: str) -> list[str]:
    return [re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", row)).strip() for row in ROW.findall(html)]


def link(html: str, text: str) -> str | None:
    match = re.search(rf'<a [^>]*href="([^"]+)"[^>]*>[^<]*{text}', html)
    return match.group(1).replace("&amp;", "&") if match else None


async def test_owner_and_secondary_user_see_the_history_newest_first_with_the_menu_and_the_form(
    portal: Portal, customers: tuple[Customer, Customer], db: asyncpg.Pool
) -> None:
    alpha, _ = customers
    now = datetime.now(UTC)
    await signal(db, alpha, now + timedelta(minutes=1), "130", zone="003")
    await signal(db, alpha, now + timedelta(minutes=2), "301", zone="000")
    await signal(db, alpha, now + timedelta(minutes=3), "130", "restore", zone="003")
    for email in (alpha.owner_email, alpha.secondary_email):
        await portal.login(email)
        response = await portal.get("/signals")
        html = await response.text()
        assert response.status == 200
        assert 'aria-current="page">Signal history</a>' in html  # the left menu's entry, current
        for label in ('for="f-from">From', 'for="f-to">To', "Alarms and emergencies", "Power loss", ">Apply<"):
            assert label in html
        assert 'name="site"' not in html  # one premises: nothing to choose
        rows = rows_of(html)
        assert rows[0].startswith(f"{(now + timedelta(minutes=3)):%Y-%m-%d}") and "Burglary alarm restored" in rows[0]
        assert "restores: Burglary alarm at" in rows[0] and "Zone 003" in rows[0]
        assert "AC power loss" in rows[1] and "Power loss" in rows[1]
        assert "restored at" in rows[2] and "Burglary alarm" in rows[2]
        assert "Burglary alarm at Alpha" in rows[3]  # the fixture's signal, oldest
        assert link(html, "Export CSV") == "/signals.csv"
        await portal.logout()


async def test_filters_by_category_date_and_premises_and_links_keep_them(
    portal: Portal, customers: tuple[Customer, Customer], db: asyncpg.Pool
) -> None:
    alpha, _ = customers
    async with db.acquire() as connection:
        shop = await add_site(connection, customer_id=alpha.customer_id, name="Corner Shop", address="2 Oak St")
        shop_panel = await add_panel(connection, site_id=shop, account="A2A2")
    old = datetime(2026, 1, 15, 12, tzinfo=UTC)
    await signal(db, alpha, old, "301", zone="000")
    await signal(db, alpha, old + timedelta(days=1), "602", zone="000")
    await signal(
        db, alpha, old + timedelta(days=1), "110", zone="002", account="A2A2", site_id=shop, panel_id=shop_panel
    )
    await portal.login(alpha.owner_email)
    html = await (await portal.get("/signals?from=2026-01-15&to=2026-01-16&category=power&category=alarm")).text()
    rows = rows_of(html)
    assert len(rows) == 2 and "Fire alarm" in rows[0] and "Corner Shop" in rows[0] and "AC power loss" in rows[1]
    assert 'value="power" checked' in html and 'value="test">' in html and 'value="2026-01-15"' in html
    assert link(html, "Export CSV") == "/signals.csv?from=2026-01-15&to=2026-01-16&category=alarm&category=power"
    html = await (await portal.get(f"/signals?site={alpha.site_id}&to=2026-01-16")).text()
    assert 'name="site"' in html and [r for r in rows_of(html) if "Fire alarm" in r] == []
    assert len(rows_of(html)) == 2


async def test_another_customers_premises_or_a_wrong_date_is_a_field_error_and_shows_no_signals(
    portal: Portal, customers: tuple[Customer, Customer]
) -> None:
    alpha, beta = customers
    await portal.login(beta.owner_email)
    response = await portal.get(f"/signals?site={alpha.site_id}&from=2026-02-30")
    html = await response.text()
    assert response.status == 400
    assert 'id="f-from-error">Enter a date such as 2026-12-31' in html
    assert rows_of(html) == [] and "Burglary alarm at Alpha" not in html and "Fire alarm at Beta" not in html
    assert "Please correct the filter above" in html
    export = await portal.client.get(f"/signals.csv?site={alpha.site_id}", allow_redirects=False)
    assert export.status == 303 and export.headers["Location"] == f"/signals?site={alpha.site_id}"
    html = await (await portal.get(f"/signals?site={alpha.site_id}")).text()
    assert "Choose one of your premises" in html or 'name="site"' not in html
    assert "Burglary alarm at Alpha" not in html
    page = await (await portal.get("/signals")).text()
    assert "Fire alarm at Beta" in page and "Burglary alarm at Alpha" not in page
    exported = await (await portal.client.get("/signals.csv")).text()
    assert "Fire alarm at Beta" in exported and "Burglary alarm at Alpha" not in exported


async def test_older_and_newer_pages_and_a_changed_or_foreign_cursor_gives_the_newest_page(
    portal: Portal, other_portal: Portal, customers: tuple[Customer, Customer], db: asyncpg.Pool
) -> None:
    alpha, beta = customers
    base = datetime.now(UTC) - timedelta(days=1)
    for minute in range(60):
        await signal(db, alpha, base + timedelta(minutes=minute), "602", zone="000")
    await portal.login(alpha.secondary_email)
    first = await (await portal.get("/signals?category=test")).text()
    assert len(rows_of(first)) == 50 and link(first, "← Newer") is None
    older = link(first, "Older")
    assert older and older.startswith("/signals?category=test&after=")
    second = await (await portal.get(older)).text()
    assert len(rows_of(second)) == 10 and link(second, "Older") is None
    assert set(rows_of(first)).isdisjoint(rows_of(second))
    newer = link(second, "← Newer")
    assert newer is not None and rows_of(await (await portal.get(newer)).text()) == rows_of(first)

    cursor = older.rsplit("=", 1)[1]
    edited = cursor[:-1] + ("A" if cursor[-1] != "A" else "B")
    for bad in (edited, "garbage", "%00", cursor + cursor):
        response = await portal.get(f"/signals?after={bad}")
        html = await response.text()
        assert response.status == 200 and "That page link is no longer valid" in html
        assert rows_of(html)[:50] == rows_of(first)[:50] or len(rows_of(html)) == 50
    # The cursor was signed for alpha: beta's session cannot use it (and would see only beta's signals anyway).
    await other_portal.login(beta.owner_email)
    html = await (await other_portal.get(older.replace("category=test&", ""))).text()
    assert "That page link is no longer valid" in html and "Fire alarm at Beta" in html, html


async def test_the_csv_export_streams_the_filtered_rows_as_an_attachment(
    portal: Portal, customers: tuple[Customer, Customer], db: asyncpg.Pool
) -> None:
    alpha, _ = customers
    now = datetime.now(UTC)
    await signal(db, alpha, now - timedelta(minutes=3), "301", zone="000", description="@SUM(1+1)")
    await signal(db, alpha, now - timedelta(minutes=2), "602", zone="000")
    await signal(db, alpha, now - timedelta(minutes=1), "301", "restore", zone="000")
    await portal.login(alpha.owner_email)
    response = await portal.client.get("/signals.csv?category=power")
    assert response.status == 200 and response.headers["Content-Type"].startswith("text/csv")
    assert response.headers["Content-Disposition"] == 'attachment; filename="signal-history.csv"'
    assert response.headers.get("Transfer-Encoding") == "chunked"
    rows = list(csv.reader(io.StringIO((await response.read()).decode("utf-8-sig"))))
    assert rows[0] == ["received", "category", "event", "zone", "user", "partition", "panel", "premises", "code",
                       "restore-of"]  # fmt: skip
    assert [row[2] for row in rows[1:]] == ["AC power restored", "'@SUM(1+1)"]
    assert rows[1][9].startswith("@SUM(1+1) at ") is False and rows[1][9].startswith("'@SUM(1+1) at ")
    assert rows[1][1] == "Power loss" and rows[1][6] == alpha.account and rows[1][7] == "Premises"


async def test_the_dashboard_has_a_signal_history_tab_with_the_latest_signals(
    portal: Portal, customers: tuple[Customer, Customer]
) -> None:
    alpha, _ = customers
    await portal.login(alpha.secondary_email)
    html = await (await portal.get("/dashboard?tab=signal-history")).text()
    assert 'href="/dashboard?tab=signal-history" aria-current="page">Signal history</a>' in html
    assert '<a href="/signals">All signal history</a>' in html and "Burglary alarm at Alpha" in html
