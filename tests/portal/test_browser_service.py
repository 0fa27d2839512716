"""The Service Center in headless Chromium, by role and label as a person uses it: a customer sends a general
inquiry, reads the confirmation's promise, receives the confirming e-mail and finds the request's state under
My requests."""

from __future__ import annotations

import asyncio
from typing import Any

import asyncpg
import pytest

from bench.smtp_inbox import Inbox, body_of
from tests.portal.conftest import Customer
from tests.portal.test_browser import CHROMIUM, browser, log_in, site  # noqa: F401 - fixtures

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's chromium is not installed at /usr/bin/chromium"),
]


async def test_a_customer_sends_a_general_inquiry_and_sees_its_state(
    browser: Any,  # noqa: F811
    site: tuple[str, Inbox],  # noqa: F811
    db: asyncpg.Pool,
    customers: tuple[Customer, Customer],
) -> None:
    from playwright.async_api import expect

    url, inbox = site
    alpha, _ = customers
    context = await browser.new_context(viewport={"width": 1280, "height": 900})
    page = await context.new_page()
    await log_in(page, url, alpha.owner_email)

    # Seed 002: the "Service Center" menu at the top, then "General Inquiries".
    await page.get_by_role("navigation", name="Centers").get_by_role("link", name="Service Center").click()
    await expect(page.get_by_role("heading", name="Service Center", exact=True)).to_be_visible()
    await page.get_by_role("main").get_by_role("link", name="General Inquiries").first.click()
    await expect(page.get_by_role("heading", name="General Inquiries", exact=True)).to_be_visible()

    # Submit without an issue: the error is next to the drop-down, and the contact on file is still there.
    await page.get_by_role("button", name="Submit").click()
    await expect(page.get_by_label("Select an issue")).to_have_attribute("aria-invalid", "true")
    await expect(page.get_by_text("Select an issue.", exact=True)).to_be_visible()
    await expect(page.get_by_label("E-mail")).to_have_value(alpha.owner_email)

    await page.get_by_label("Select an issue").select_option("System trouble")
    await page.get_by_label("Phone").fill("+1 555 0100")
    await page.get_by_label("Comments").fill("The keypad shows 'trouble' since the storm.")
    await page.get_by_role("button", name="Submit").click()

    await expect(page.get_by_role("heading", name="Thank you: your request was sent")).to_be_visible()
    await expect(page.get_by_role("status")).to_contain_text(
        "A customer service representative will be in touch within 24 to 48 hours to complete your request"
    )
    request_id = await db.fetchval("SELECT id FROM service_requests WHERE customer_id = $1", alpha.customer_id)
    assert await db.fetchval("SELECT contact_phone FROM service_requests WHERE id = $1", request_id) == "+1 555 0100"

    # The e-mail confirms, with a link to the request.
    async with asyncio.timeout(15):
        while not inbox.to(alpha.owner_email):  # noqa: ASYNC110 - the SMTP server fills it from its own thread
            await asyncio.sleep(0.05)
    body = body_of(inbox.to(alpha.owner_email)[0])
    assert "24 to 48 hours" in body
    assert f"{url}/service/requests/{request_id}" in body

    # My requests: the inquiry with its state, and its page.
    await page.get_by_role("navigation", name="Service Center").get_by_role("link", name="My requests").click()
    await expect(page.get_by_role("heading", name="My requests")).to_be_visible()
    row = page.get_by_role("row").filter(has_text="System trouble")
    await expect(row).to_contain_text("Received")
    await row.get_by_role("link").click()
    await expect(page.get_by_role("heading", name=f"Request #{request_id}: System trouble")).to_be_visible()
    await expect(page.get_by_text("The keypad shows 'trouble' since the storm.")).to_be_visible()
    await context.close()
