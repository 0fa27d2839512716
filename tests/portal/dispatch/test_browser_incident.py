"""The incident page in headless Chromium, by role and label as a dispatcher uses it: opens an incident from the
console's queue, takes it, records a call to the first contact with its outcome and the passcode, closes it as a
false alarm (the cause asked for first), and the customer then reads the outcome from their signal history."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from bench.smtp_inbox import Inbox
from tests.portal.conftest import Customer
from tests.portal.dispatch.incidents import PASSCODE, alarm_incident, contact, set_passcode
from tests.portal.test_browser import CHROMIUM, browser, log_in, site  # noqa: F401 - fixtures

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's chromium is not installed at /usr/bin/chromium"),
]
SCREENSHOT = Path(os.environ.get("ALARMHUB_SCREENSHOTS", "/tmp")) / "alarmhub-incident.png"


async def test_a_dispatcher_takes_an_incident_records_a_call_and_closes_it_with_a_disposition(
    browser: Any,  # noqa: F811
    site: tuple[str, Inbox],  # noqa: F811
    db: asyncpg.Pool,
    customers: tuple[Customer, Customer],
) -> None:
    from playwright.async_api import expect

    url, _ = site
    alpha, _ = customers
    async with db.acquire() as connection:
        await connection.execute(
            "UPDATE sites SET name = 'Alpha Warehouse', address = '1 Dock Road' WHERE id = $1", alpha.site_id
        )
        incident_id = await alarm_incident(connection, alpha)
        await contact(connection, alpha, "Ann Keyholder", "555-0100")
        await contact(connection, alpha, "Bob Backup", "555-0200")
        await set_passcode(connection, alpha)
    context = await browser.new_context(viewport={"width": 1280, "height": 900})
    page = await context.new_page()
    await log_in(page, url, "dispatcher@example.com")

    # From the console's queue to the incident.
    await page.get_by_role("navigation", name="Portal menu").get_by_role("link", name="Console").click()
    # (The console redraws its queue as the ages tick: the link is followed by its address, as a click would.)
    link = page.get_by_role("table", name="Alarm queue").get_by_role("link", name="Burglary alarm")
    await expect(link).to_have_attribute("href", f"/dispatch/incidents/{incident_id}")
    await page.goto(url + f"/dispatch/incidents/{incident_id}")
    await expect(page.get_by_role("heading", name=f"Burglary alarm #{incident_id}")).to_be_visible()
    await expect(page.get_by_text("1 Dock Road")).to_be_visible()
    await expect(page.locator("#passcode")).to_have_text(PASSCODE)
    await expect(page.get_by_role("form", name="Call to Ann Keyholder")).to_have_count(0)  # not before taking it

    await page.get_by_role("button", name="Take", exact=True).click()
    await expect(page.get_by_role("status").filter(has_text="You hold this incident now")).to_be_visible()

    # The first contact answers and gives the passcode.
    call = page.get_by_role("form", name="Call to Ann Keyholder")
    await call.get_by_label("Outcome").select_option(label="Answered")
    await call.get_by_label("Gave the verbal passcode").check()
    await call.get_by_label("Note").fill("Ann is on her way")
    await call.get_by_role("button", name="Record the call").click()
    await expect(page.get_by_role("status").filter(has_text="The call is recorded.")).to_be_visible()
    ann = page.get_by_role("article").filter(has=page.get_by_role("heading", name="1. Ann Keyholder"))
    await expect(ann.get_by_role("listitem")).to_contain_text("Answered · passcode verified — Ann is on her way")

    # Close: a false alarm without its cause is refused next to the cause; with it, closed.
    close = page.get_by_role("form", name="Close")
    await close.get_by_label("Disposition").select_option(label="False alarm")
    await close.get_by_role("button", name="Close the incident").click()
    cause = page.get_by_role("form", name="Close").get_by_label("False alarm cause")
    await expect(cause).to_have_attribute("aria-invalid", "true")
    await expect(page.get_by_text("A false alarm needs its cause.")).to_be_visible()
    await cause.select_option(label="User error")
    await page.get_by_role("form", name="Close").get_by_label("Closing note").fill("Wrong code at the keypad")
    await page.get_by_role("button", name="Close the incident").click()
    await expect(page.get_by_role("status").filter(has_text="The incident is closed.")).to_be_visible()
    story = page.get_by_role("region", name="Who handles it")
    await expect(story).to_contain_text("False alarm (User error)")
    await expect(page.get_by_role("button", name="Record the call")).to_have_count(0)
    await page.screenshot(path=str(SCREENSHOT), full_page=True)
    row = await db.fetchrow("SELECT status, disposition, false_alarm_cause FROM incidents WHERE id = $1", incident_id)
    assert dict(row) == {"status": "closed", "disposition": "false_alarm", "false_alarm_cause": "user_error"}

    # The customer reads what was done from their signal history.
    await context.clear_cookies()
    await log_in(page, url, alpha.owner_email)
    await page.goto(f"{url}/signals/incidents/{incident_id}")
    await expect(page.get_by_text("We called Ann Keyholder: answered")).to_be_visible()
    await expect(page.get_by_text("False alarm", exact=False).first).to_be_visible()
    await expect(page.get_by_text(PASSCODE)).to_have_count(0)
    await expect(page.get_by_text("555-0100")).to_have_count(0)
    await context.close()
