"""The service desk in headless Chromium: staff take a customer's request from the queue, book a visit and complete
it with the work performed; the customer then finds the work in their service history."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import pytest

from bench.smtp_inbox import Inbox
from shared.branding import Branding
from shared.config import load_config
from shared.scope import CustomerScope
from shared.service.requests import submit_request
from tests.portal.conftest import Customer
from tests.portal.test_browser import CHROMIUM, browser, log_in, site  # noqa: F401 - fixtures

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's chromium is not installed at /usr/bin/chromium"),
]


async def _log_in(page: Any, url: str, email: str) -> None:
    await log_in(page, url, email)


async def _submitted(db: asyncpg.Pool, customer: Customer) -> int:
    """The customer's request for service, stored as their Request service form stores it."""
    config = load_config(None, environ={})
    async with db.acquire() as connection:
        return await submit_request(
            connection,
            CustomerScope(customer.customer_id, customer.owner_id),
            Branding.from_config(config),
            kind="service",
            topic="Battery replacement",
            topics=config["service.service_topics"],
            site_id=customer.site_id,
            contact_name="Alex Alpha",
            contact_email=customer.owner_email,
            contact_phone="555-0142",
            comments="The keypad beeps every night.",
            preferred_dates=[datetime.now(UTC).date() + timedelta(days=2)],
            preferred_time="morning",
            submission_key="browser-desk-1",
            response_promise=config["service.response_promise"],
        )


async def test_staff_take_schedule_and_complete_a_request_and_the_customer_sees_the_service_history(
    browser: Any,  # noqa: F811
    site: tuple[str, Inbox],  # noqa: F811
    db: asyncpg.Pool,
    customers: tuple[Customer, Customer],
) -> None:
    from playwright.async_api import expect

    url, _ = site
    alpha, _ = customers
    request_id = await _submitted(db, alpha)
    context = await browser.new_context(viewport={"width": 1280, "height": 900})
    page = await context.new_page()
    await _log_in(page, url, "dispatcher@example.com")

    # The queue, from the staff menu; the request by its topic.
    await page.get_by_role("navigation", name="Portal menu").get_by_role("link", name="Service requests").click()
    await expect(page.get_by_role("heading", name="Service requests", exact=True)).to_be_visible()
    await page.get_by_label("Held by").select_option("nobody")
    await page.get_by_role("button", name="Show requests").click()
    row = page.get_by_role("row").filter(has_text="Customer alpha")
    await expect(row).to_contain_text("Request for service")
    await expect(row).to_contain_text("Nobody")
    await row.get_by_role("link", name="Battery replacement").click()
    await expect(page.get_by_role("heading", name=f"Battery replacement #{request_id}")).to_be_visible()
    await expect(page.get_by_text("The keypad beeps every night.")).to_be_visible()

    await page.get_by_role("button", name="Take").click()
    await expect(page.get_by_text("You hold this request now")).to_be_visible()

    visit_day = datetime.now(UTC).date() + timedelta(days=2)
    schedule = page.get_by_role("region", name="Schedule a visit")
    await expect(schedule.get_by_label("Date")).to_have_value(visit_day.isoformat())  # the customer's preferred day
    await schedule.get_by_label("Technician").fill("Sam Okafor")
    await schedule.get_by_label("Time").fill("10:30")
    await schedule.get_by_role("button", name="Schedule the visit").click()
    await expect(page.get_by_text("The visit is booked: Sam Okafor")).to_be_visible()
    await expect(page.get_by_role("region", name="Visits")).to_contain_text(f"{visit_day.isoformat()} 10:30")

    done = page.get_by_role("region", name="Complete")
    await expect(done.get_by_label("Technician")).to_have_value("Sam Okafor")
    await done.get_by_role("button", name="Complete the request").click()  # nothing described yet
    await expect(done.get_by_text("Describe the work performed")).to_be_visible()
    await done.get_by_label("Work performed").fill("Replaced the panel battery and tested the siren.")
    await done.get_by_role("button", name="Complete the request").click()
    await expect(page.get_by_text("The request is completed")).to_be_visible()
    await expect(page.get_by_role("region", name="Complete")).to_have_count(0)
    await page.get_by_role("button", name="Log out").click()

    # The customer: the work in the Service Center's service history, the request completed.
    await _log_in(page, url, alpha.owner_email)
    await page.get_by_role("navigation", name="Centers").get_by_role("link", name="Service Center").click()
    await page.get_by_role("navigation", name="Service Center").get_by_role("link", name="Service history").click()
    entry = page.get_by_role("region", name="Services performed").get_by_role("row").filter(has_text="Sam Okafor")
    await expect(entry).to_contain_text("Replaced the panel battery and tested the siren.")
    await expect(entry).to_contain_text(datetime.now(UTC).date().isoformat())  # the day it was completed
    await entry.get_by_role("link", name=f"#{request_id}").click()
    await expect(page.get_by_text("Completed").first).to_be_visible()
    await context.close()
