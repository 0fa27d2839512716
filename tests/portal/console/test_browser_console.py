"""The console in headless Chromium: a dispatcher sees a new alarm within a second of its commit, without reloading,
and the queue row of the incident it opened; the feed reconnects after the server drops it."""

from __future__ import annotations

import re
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest
import pytest_asyncio
from aiohttp import web

from portal.app import create_app
from portal.console.views import hub_key
from shared.enrolment import create_customer, create_staff_user
from tests.conftest import free_port
from tests.portal.conftest import PASSWORD, portal_config
from tests.portal.console.conftest import insert_signals, open_incident
from tests.portal.test_browser import CHROMIUM, browser, log_in  # noqa: F401 - fixtures

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's chromium is not installed at /usr/bin/chromium"),
]


@pytest_asyncio.fixture
async def console_site(tmp_path: Path, database_url: str) -> AsyncIterator[tuple[str, web.Application]]:
    """The portal on a free port, and its app (to reach the console hub)."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    config = portal_config(tmp_path, portal__port=port, portal__public_url=url, dispatch__session_recheck=0.5)
    app = create_app(config, database_url)
    runner = web.AppRunner(app, handle_signals=False)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        yield url, app
    finally:
        await runner.cleanup()


class Premises:
    def __init__(self, account: str, panel_id: int, site_id: int, customer_id: int) -> None:
        self.account, self.panel_id, self.site_id, self.customer_id = account, panel_id, site_id, customer_id


async def test_a_dispatchers_console_shows_a_new_alarm_within_a_second(
    browser: Any,  # noqa: F811
    console_site: tuple[str, web.Application],
    db: asyncpg.Pool,
) -> None:
    from playwright.async_api import expect

    url, app = console_site
    async with db.acquire() as connection:
        enrolled = await create_customer(
            connection,
            name="Jordan Avery",
            email="jordan@example.com",
            password=PASSWORD,
            account="1234",
            address="12 Elm Street, Springfield",
            security_code="4711",
        )
        await create_staff_user(connection, email="dana@example.com", password=PASSWORD, role="dispatcher")
    premises = Premises("1234", enrolled.panel_id, enrolled.site_id, enrolled.customer_id)

    context = await browser.new_context(viewport={"width": 1280, "height": 900})
    page = await context.new_page()
    await log_in(page, url, "dana@example.com")
    await page.get_by_role("navigation", name="Portal menu").get_by_role("link", name="Console").click()
    await expect(page.get_by_role("heading", name="Console")).to_be_visible()
    await expect(page.get_by_role("status")).to_have_text("Live")
    await expect(page.get_by_text("No open incidents.")).to_be_visible()

    committed = time.monotonic()
    await insert_signals(db, premises, description="Burglary alarm: back door")  # type: ignore[arg-type]
    alarms = page.get_by_role("table", name="Alarms")
    await expect(alarms.get_by_role("cell", name="Burglary alarm: back door")).to_be_visible(timeout=1000)
    assert time.monotonic() - committed < 1.0
    await expect(page.get_by_role("alert")).to_contain_text("New alarm: Burglary alarm: back door")
    # A power loss goes to the other signals, not among the alarms.
    await insert_signals(db, premises, description="AC power loss", category="power")  # type: ignore[arg-type]
    others = page.get_by_role("table", name="Other signals")
    await expect(others.get_by_role("cell", name="AC power loss")).to_be_visible(timeout=1000)
    await expect(alarms.get_by_role("cell", name="AC power loss")).to_have_count(0)

    # The incident it opened (written as the opener writes it) enters the queue, linking to its page.
    incident_id = await open_incident(db, premises, title="Burglary alarm", priority=3)  # type: ignore[arg-type]
    queue = page.get_by_role("table", name="Alarm queue")
    link = queue.get_by_role("link", name="Burglary alarm")
    await expect(link).to_be_visible(timeout=1000)
    assert await link.get_attribute("href") == f"/dispatch/incidents/{incident_id}"
    await expect(queue.get_by_role("cell", name="Jordan Avery")).to_be_visible()
    await expect(page.get_by_role("list", name="Open incidents by priority")).to_have_text("P3: 1")
    await expect(page.get_by_text("No open incidents.")).to_be_hidden()

    # Ageing: an incident waiting for minutes is marked late, in its lane (the unknown accounts').
    await open_incident(
        db, None, title="Signal from account ABC9", kind="unknown_account", account="ABC9", minutes_ago=5
    )
    late = page.get_by_role("table", name="Unknown accounts").get_by_role("row").filter(has_text="ABC9")
    await expect(late).to_have_class(re.compile(r"queue-row--late"))
    await expect(page.get_by_role("alert")).to_have_text("New in the queue: Signal from account ABC9 — account ABC9")
    await expect(late.get_by_text(re.compile(r"^5 min \d+ s$"))).to_be_visible()
    await expect(queue.get_by_role("row").filter(has_text="Jordan Avery")).not_to_have_class(re.compile("late"))

    # The server drops the feed (as it cuts a slow socket): the page reconnects with its cursor and is caught up.
    status = page.get_by_role("status")
    await app[hub_key].close_all(4008, "too slow")
    await insert_signals(db, premises, description="Fire alarm: kitchen")  # type: ignore[arg-type]
    await expect(alarms.get_by_role("cell", name="Fire alarm: kitchen")).to_be_visible(timeout=5000)
    await expect(status).to_have_text("Live")
    await expect(alarms.get_by_role("cell", name="Burglary alarm: back door")).to_have_count(1)

    # At phone width the console's tables stack: nothing scrolls sideways.
    await page.set_viewport_size({"width": 375, "height": 800})
    assert await page.evaluate("document.documentElement.scrollWidth") <= 375

    # Logged out elsewhere (every session revoked): the console says so and stops.
    await db.execute("UPDATE user_sessions SET revoked_at = now()")
    await expect(status).to_have_text("Your session has ended: log in again to see the console.", timeout=3000)
    await context.close()
