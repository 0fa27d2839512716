"""Payment methods and Autopay in headless Chromium, used by roles and labels as a customer would (seed 002's steps)."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import pytest
import pytest_asyncio
from aiohttp import web

from portal.app import create_app
from tests.conftest import free_port
from tests.portal.conftest import PASSWORD, Customer, portal_config
from tests.portal.test_browser import CHROMIUM, CHROMIUM_ARGS

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's chromium is not installed at /usr/bin/chromium"),
]


@pytest_asyncio.fixture
async def browser() -> AsyncIterator[Any]:
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        chromium = await playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield chromium
        await chromium.close()


@pytest_asyncio.fixture
async def site(tmp_path: Path, database_url: str) -> AsyncIterator[str]:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    runner = web.AppRunner(
        create_app(portal_config(tmp_path, portal__port=port, portal__public_url=url), database_url),
        handle_signals=False,
    )
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        yield url
    finally:
        await runner.cleanup()


async def logged_in(browser: Any, url: str, email: str) -> Any:
    context = await browser.new_context(viewport={"width": 1280, "height": 900})
    page = await context.new_page()
    await page.goto(f"{url}/login")
    await page.get_by_label("E-mail address").fill(email)
    await page.get_by_label("Password").fill(PASSWORD)
    await page.get_by_label("Password").press("Enter")
    await page.wait_for_url(re.compile(r"/dashboard$"))
    return page


async def test_add_a_bank_account(
    browser: Any, site: str, db: asyncpg.Pool, customers: tuple[Customer, Customer]
) -> None:
    from playwright.async_api import expect

    alpha, _ = customers
    page = await logged_in(browser, site, alpha.owner_email)
    await page.get_by_role("navigation", name="Portal menu").get_by_role("link", name="Payment methods").click()
    await expect(page.get_by_role("heading", name="Payment methods", level=1)).to_be_visible()
    await page.get_by_role("link", name="Add payment method").click()

    await expect(page.get_by_text("Sandbox — no real money")).to_be_visible()
    await expect(page.get_by_label("Card number")).to_be_visible()  # a card is the preselected type
    await page.get_by_label("Bank account (ACH)").check()
    await expect(page.get_by_label("Card number")).to_be_hidden()  # the script shows the chosen type only
    await page.get_by_label("Routing number").fill("110000001")  # a typo: the ABA checksum fails
    await page.get_by_label("Account number").fill("000123456789")
    await page.get_by_label("Checking").check()
    await page.get_by_label("Account holder").fill("Alice Alpha")
    await page.get_by_label("A different address").check()
    await page.get_by_label("Billing address").fill("1 Bank Road, Springfield IL 62701")
    await page.get_by_role("button", name="Submit").click()

    # Every wrong field by its input; the account number is not written back into the page.
    routing = page.get_by_label("Routing number")
    await expect(routing).to_have_attribute("aria-invalid", "true")
    await expect(page.locator("#f-routing_number-error")).to_contain_text("not valid")
    await expect(page.locator("#f-terms-error")).to_contain_text("agree to the terms")
    await expect(page.get_by_label("Account number")).to_have_value("")
    await expect(page.get_by_label("Card number")).to_be_hidden()  # still on the bank account
    await routing.fill("110000000")
    await page.get_by_label("Account number").fill("000123456789")
    await page.get_by_label("I agree to the terms and conditions").check()
    await page.get_by_role("button", name="Submit").click()

    await expect(page.get_by_role("status")).to_contain_text(
        "Your new payment method will be available next time you make a payment"
    )
    row = page.get_by_role("row", name=re.compile("ending in 6789"))
    await expect(row).to_contain_text("Checking account")
    await expect(row).to_contain_text("default")  # the first method on file
    await expect(row).to_contain_text("1 Bank Road")
    stored = await db.fetchrow("SELECT kind, last4, account_type FROM payment_methods")
    assert tuple(stored) == ("bank_account", "6789", "checking")
    await page.context.close()


async def test_set_up_autopay(browser: Any, site: str, customers: tuple[Customer, Customer]) -> None:
    from playwright.async_api import expect

    alpha, _ = customers
    page = await logged_in(browser, site, alpha.owner_email)
    await page.goto(f"{site}/billing/autopay")
    await expect(page.get_by_role("heading", name="Set up Autopay")).to_be_visible()
    await expect(page.get_by_text("Autopay: off")).to_be_visible()

    # No method yet: "Add a New Payment Method" and come back to Autopay with it chosen.
    await page.get_by_role("link", name="Add a new payment method").click()
    await page.get_by_label("Card number").fill("4242 4242 4242 4242")
    await page.get_by_label("Expiry month").select_option("12")
    await page.get_by_label("Expiry year").select_option(str(datetime.now(UTC).year + 3))
    await page.get_by_label("Security code").fill("737")
    await page.get_by_label("Name on card").fill("Alice Alpha")
    await page.get_by_label("I agree to the terms and conditions").check()
    await page.get_by_role("button", name="Submit").click()
    await page.wait_for_url(re.compile(r"/billing/autopay\?method_id=\d+$"))
    await expect(page.get_by_label("Payment method")).to_have_value(re.compile(r"\d+"))
    await expect(page.get_by_label("Payment method").locator("option:checked")).to_contain_text("Visa ending in 4242")

    await page.get_by_label("Recurring draft day").select_option(label="15th")
    await page.get_by_role("button", name="Submit").click()
    await expect(page.get_by_role("status")).to_contain_text("Autopay is on")
    await expect(page.get_by_text(re.compile(r"Autopay: on, next draft \w+ 15, \d{4}"))).to_be_visible()

    await page.get_by_role("button", name="Stop autopay").click()
    await expect(page.get_by_text("Autopay: off")).to_be_visible()
    await page.context.close()
