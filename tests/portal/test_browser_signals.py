"""Signal history in headless Chromium: a customer filters by category and date, sees only the matching rows, and
exports them as CSV; the downloaded file holds exactly those rows."""

from __future__ import annotations

import csv
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from bench.smtp_inbox import Inbox
from tests.portal.conftest import Customer
from tests.portal.test_browser import CHROMIUM, browser, log_in, site  # noqa: F401 - fixtures
from tests.shared.test_signal_history import signal

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's chromium is not installed at /usr/bin/chromium"),
]


async def test_filter_by_category_and_date_then_export_csv(
    browser: Any,  # noqa: F811
    site: tuple[str, Inbox],  # noqa: F811
    db: asyncpg.Pool,
    customers: tuple[Customer, Customer],
    tmp_path: Path,
) -> None:
    from playwright.async_api import expect

    url, _ = site
    alpha, _ = customers
    day = datetime(2026, 3, 10, 12, tzinfo=UTC)  # the portal's zone is UTC in tests
    await signal(db, alpha, day - timedelta(days=1), "301", zone="000")  # power, the day before: filtered out
    await signal(db, alpha, day, "301", zone="000")  # AC power loss
    await signal(db, alpha, day + timedelta(hours=2), "602", zone="000")  # a test: filtered out
    await signal(db, alpha, day + timedelta(hours=3), "301", "restore", zone="000")  # AC power restored
    await signal(db, alpha, day + timedelta(days=1), "130", zone="004")  # an alarm, the day after: filtered out

    context = await browser.new_context(viewport={"width": 1280, "height": 900}, accept_downloads=True)
    page = await context.new_page()
    await log_in(page, url, alpha.secondary_email)
    await page.get_by_role("navigation", name="Portal menu").get_by_role("link", name="Signal history").click()
    await expect(page.get_by_role("heading", name="Signal history", exact=True)).to_be_visible()

    await page.get_by_label("From").fill("2026-03-10")
    await page.get_by_label("To").fill("2026-03-10")
    await page.get_by_label("Power loss").check()
    await page.get_by_role("button", name="Apply").click()
    await expect(page.get_by_label("Power loss")).to_be_checked()
    rows = page.locator("table.signals tbody tr")
    await expect(rows).to_have_count(2)
    await expect(rows.nth(0)).to_contain_text("AC power restored")
    await expect(rows.nth(0)).to_contain_text("restores: AC power loss at 2026-03-10 12:00")
    await expect(rows.nth(1)).to_contain_text("AC power loss")
    await expect(rows.nth(1)).to_contain_text("restored at 2026-03-10 15:00")
    for row in range(2):
        await expect(rows.nth(row).get_by_text("Power loss", exact=True)).to_have_class(
            re.compile("category--power")
        )  # colour and words both

    async with page.expect_download() as waiting:
        await page.get_by_role("link", name="Export CSV").click()
    download = await waiting.value
    assert download.suggested_filename == "signal-history-from-2026-03-10-to-2026-03-10.csv"
    saved = tmp_path / "export.csv"
    await download.save_as(saved)
    with saved.open(encoding="utf-8-sig", newline="") as file:
        exported = list(csv.DictReader(file))
    assert [(row["received"], row["category"], row["event"], row["restore-of"]) for row in exported] == [
        ("2026-03-10T15:00:00+00:00", "Power loss", "AC power restored", "AC power loss at 2026-03-10T12:00:00+00:00"),
        ("2026-03-10T12:00:00+00:00", "Power loss", "AC power loss", ""),
    ]
    assert all(row["panel"] == alpha.account and row["zone"] == "000" for row in exported)
    await context.close()
