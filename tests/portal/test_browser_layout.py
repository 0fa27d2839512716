"""Layout in headless Chromium: at phone width nothing scrolls sideways, and long values wrap instead of widening."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import asyncpg

from bench.smtp_inbox import Inbox
from shared.enrolment import create_customer, create_staff_user
from tests.portal.conftest import PASSWORD, add_signal
from tests.portal.test_browser import browser, pytestmark, site  # noqa: F401 - fixtures and markers of the browser tests

PHONE = {"width": 390, "height": 844}
LONG_WORD = "Unbrokenwordwithoutanyspaces" * 4  # 112 characters: fits the name limit, wider than a phone


async def _enrol_with_long_values(db: asyncpg.Pool) -> None:
    async with db.acquire() as connection:
        enrolled = await create_customer(
            connection,
            name=LONG_WORD,
            email="long@example.com",
            password=PASSWORD,
            account="C0FFEE",
            address="1 " + LONG_WORD + " Street, " + "Springfield " * 10,
            security_code="4711",
        )
        await connection.execute("UPDATE users SET email_confirmed_at = now() WHERE id = $1", enrolled.user_id)
        await create_staff_user(connection, email="staff@example.com", password=PASSWORD, role="admin")
        customer = type(
            "C",
            (),
            {
                "account": "C0FFEE",
                "panel_id": enrolled.panel_id,
                "site_id": enrolled.site_id,
                "customer_id": enrolled.customer_id,
            },
        )
        for number in range(5):
            await add_signal(
                connection,
                customer,
                description="Burglary alarm: " + LONG_WORD[:40],
                zone=f"{number:03d}",
                user_number="12",
                sequence=f"{number:04d}",
                minutes_ago=number,
            )


async def _log_in(page: Any, url: str, email: str) -> None:
    await page.goto(f"{url}/login")
    await page.get_by_label("E-mail address").fill(email)
    await page.get_by_label("Password").fill(PASSWORD)
    await page.get_by_role("button", name="Log in").click()


async def test_at_phone_width_no_page_scrolls_sideways(browser: Any, site: tuple[str, Inbox], db: asyncpg.Pool) -> None:  # noqa: F811
    from playwright.async_api import expect

    url, _ = site
    await _enrol_with_long_values(db)
    context = await browser.new_context(viewport=PHONE)
    page = await context.new_page()
    await _log_in(page, url, "long@example.com")
    await expect(page.get_by_role("heading", name="Recent signals")).to_be_visible()
    for path in ("/dashboard", "/users", "/account"):
        await page.goto(f"{url}{path}")
        width = await page.evaluate("document.documentElement.scrollWidth")
        assert width <= PHONE["width"], (path, width)
    # The signals stack as cards, each value labelled, zone and user both named.
    await page.goto(f"{url}/dashboard")
    await expect(page.get_by_text("Zone 000, user 12").first).to_be_visible()
    await page.screenshot(path=str(Path(tempfile.gettempdir()) / "alarmhub-dashboard-phone.png"), full_page=True)
    await page.get_by_role("button", name="Log out").click()

    await _log_in(page, url, "staff@example.com")
    await page.get_by_role("link", name=LONG_WORD[:20], exact=False).first.click()
    await expect(page.get_by_text("Zone 000, user 12").first).to_be_visible()  # staff see the user number too
    width = await page.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"], ("staff customer page", width)
    await context.close()
