"""The insurance certificate in headless Chromium, as seed 002 tells it: Service Center → Insurance Certificate →
Request Insurance Certificate → Download; then an insurer checks the code on the public page."""

from __future__ import annotations

import re
from typing import Any

import asyncpg
import pytest
from pypdf import PdfReader

from bench.smtp_inbox import Inbox
from tests.portal.conftest import Customer
from tests.portal.test_browser import CHROMIUM, browser, log_in, site  # noqa: F401 - fixtures

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's chromium is not installed at /usr/bin/chromium"),
]


async def test_request_and_download_a_certificate_then_an_insurer_verifies_it(
    browser: Any,  # noqa: F811
    site: tuple[str, Inbox],  # noqa: F811
    db: asyncpg.Pool,
    customers: tuple[Customer, Customer],
    tmp_path: Any,
) -> None:
    from playwright.async_api import expect

    url, _ = site
    alpha, _ = customers
    await db.execute("UPDATE panels SET monitored_services = '{burglary,fire}' WHERE id = $1", alpha.panel_id)
    context = await browser.new_context(viewport={"width": 1280, "height": 900}, accept_downloads=True)
    page = await context.new_page()
    await log_in(page, url, alpha.owner_email)

    await page.get_by_role("navigation", name="Centers").get_by_role("link", name="Service Center").click()
    await (
        page.get_by_role("navigation", name="Service Center").get_by_role("link", name="Insurance Certificate").click()
    )
    await expect(page.get_by_role("heading", name="Insurance Certificate", level=1)).to_be_visible()
    await expect(page.get_by_text("No certificates yet")).to_be_visible()
    await page.get_by_role("button", name="Request Insurance Certificate", exact=True).click()
    await expect(page.get_by_text("Your insurance certificate for Premises is ready")).to_be_visible()
    row = page.get_by_role("row").filter(has_text="new")
    await expect(row).to_contain_text("alpha Street 1")
    code = re.search(r"[2-9A-HJ-NP-Z]{4}(?:-[2-9A-HJ-NP-Z]{4}){3}", await row.inner_text())
    assert code, await row.inner_text()

    async with page.expect_download() as download_info:
        await row.get_by_role("link", name=re.compile("^Download")).click()
    download = await download_info.value
    assert re.fullmatch(r"insurance-certificate-premises-\d{4}-\d{2}-\d{2}\.pdf", download.suggested_filename)
    saved = tmp_path / download.suggested_filename
    await download.save_as(saved)
    assert saved.read_bytes().startswith(b"%PDF")
    text = "".join(p.extract_text() for p in PdfReader(saved).pages)
    for expected in ("Certificate of Alarm Monitoring", "Customer alpha", "alpha Street 1", alpha.account, code[0]):
        assert expected in text, expected
    assert "Burglary / intrusion" in text and "Fire" in text

    # The insurer, in a browser of their own, types the code as read from the paper.
    insurer = await browser.new_context()
    check = await insurer.new_page()
    await check.goto(f"{url}/verify")
    await check.get_by_label("Verification code").fill(code[0].lower().replace("-", " "))
    await check.get_by_role("button", name="Verify").click()
    await expect(check.get_by_role("heading", name="Genuine certificate", exact=True)).to_be_visible()
    await expect(check.get_by_text("Customer alpha")).to_be_visible()
    await expect(check.get_by_text("It is valid")).to_be_visible()
    await insurer.close()
    await context.close()


async def test_an_admin_ticks_what_an_older_panel_is_monitored_for_on_the_customers_record(
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
    await log_in(page, url, "admin@example.com")
    await page.goto(f"{url}/staff/customers/{alpha.customer_id}")

    boxes = page.get_by_role("group", name=f"Monitored for (panel {alpha.account})")
    await boxes.get_by_label("Burglary").check()
    await boxes.get_by_label("Fire", exact=True).check()
    await page.get_by_role("button", name=f"Save what panel {alpha.account} is monitored for").click()
    await expect(page.get_by_text(f"Panel {alpha.account} is monitored for: Burglary, Fire.")).to_be_visible()
    await expect(boxes.get_by_label("Fire", exact=True)).to_be_checked()
    assert await db.fetchval("SELECT monitored_services FROM panels WHERE id = $1", alpha.panel_id) == [
        "burglary",
        "fire",
    ]
    await context.close()
