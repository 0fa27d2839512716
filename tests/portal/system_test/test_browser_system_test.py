"""System test in headless Chromium, by roles and labels: the owner opens System test from the menu, puts the
system on test for 2 hours, sees it on the dashboard, and ends it early."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import asyncpg
import pytest

from bench.smtp_inbox import Inbox
from shared.incidents.system_tests import on_test
from tests.portal.conftest import Customer
from tests.portal.test_browser import CHROMIUM, browser, log_in, site  # noqa: F401 - fixtures

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's chromium is not installed at /usr/bin/chromium"),
]


async def test_the_owner_puts_the_system_on_test_for_two_hours_and_ends_it_early(
    browser: Any,  # noqa: F811
    site: tuple[str, Inbox],  # noqa: F811
    db: asyncpg.Pool,
    customers: tuple[Customer, Customer],
) -> None:
    from playwright.async_api import expect

    url, _ = site
    alpha, _ = customers
    context = await browser.new_context(viewport={"width": 1280, "height": 900})
    page = await context.new_page()
    await log_in(page, url, alpha.owner_email)
    await page.get_by_role("navigation", name="Portal menu").get_by_role("link", name="System test").click()
    await expect(page.get_by_role("heading", name="System test", exact=True)).to_be_visible()
    await expect(page.get_by_text("Not on test")).to_be_visible()

    await page.get_by_label("Hours").fill("2")
    await page.get_by_role("button", name="Start test").click()
    await expect(page.get_by_text("Premises is on test for 2 hours")).to_be_visible()
    await expect(page.get_by_text("On test until")).to_be_visible()
    row = await db.fetchrow("SELECT starts_at, ends_at, ended_at FROM system_tests WHERE site_id = $1", alpha.site_id)
    assert row["ends_at"] - row["starts_at"] == timedelta(hours=2) and row["ended_at"] is None
    async with db.acquire() as connection:
        assert await on_test(connection, alpha.site_id)

    await page.get_by_role("navigation", name="Portal menu").get_by_role("link", name="Dashboard").click()
    await expect(page.get_by_role("heading", name="Your system is on test")).to_be_visible()
    await page.get_by_role("link", name="System test").last.click()

    await page.get_by_role("button", name="End test now").click()
    await expect(page.get_by_text("The test of Premises has ended")).to_be_visible()
    await expect(page.get_by_text("Not on test")).to_be_visible()
    past = page.get_by_role("table").locator("tbody tr")
    await expect(past).to_have_count(1)
    await expect(past.first).to_contain_text("early, by Customer alpha")
    async with db.acquire() as connection:
        assert not await on_test(connection, alpha.site_id)
    await context.close()
