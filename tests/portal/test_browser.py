"""The portal in headless Chromium, used by roles and labels as a person would, with mail from a real SMTP server."""

from __future__ import annotations

import asyncio
import os
import re
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest
import pytest_asyncio
from aiohttp import web

from bench.smtp_inbox import Inbox, body_of, smtp_server
from portal.app import create_app
from shared.enrolment import create_customer
from shared.mail import SmtpTransport
from shared.outbox import OutboxSender, RetryPolicy
from tests.conftest import REPO, free_port
from tests.portal.conftest import PASSWORD, add_signal, portal_config

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]
# The dashboard screenshot in docs/ is refreshed on request only, so that a test run leaves the tree clean.
SCREENSHOT = (
    REPO / "docs" / "screenshots" / "dashboard.png"
    if os.environ.get("ALARMHUB_TEST_UPDATE_SCREENSHOTS")
    else Path(tempfile.gettempdir()) / "alarmhub-dashboard.png"
)
NEW_PASSWORD = "lantern orchard velvet"

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
async def site(tmp_path: Path, database_url: str, db: asyncpg.Pool) -> AsyncIterator[tuple[str, Inbox]]:
    """The portal on a free port, with the outbox sender delivering to an aiosmtpd server in the test."""
    port, smtp_port = free_port(), free_port()
    url = f"http://127.0.0.1:{port}"
    config = portal_config(tmp_path, portal__port=port, portal__public_url=url)
    runner = web.AppRunner(create_app(config, database_url), handle_signals=False)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    with smtp_server(smtp_port) as inbox:
        sender = OutboxSender(
            db,
            SmtpTransport(f"smtp://127.0.0.1:{smtp_port}"),
            sender="Sentinel <noreply@example.com>",
            retry=RetryPolicy(0.2, 1.0),
        )
        delivering = asyncio.create_task(sender.run(database_url=database_url, poll_interval=0.5))
        try:
            yield url, inbox
        finally:
            delivering.cancel()
            await asyncio.gather(delivering, return_exceptions=True)
            await runner.cleanup()


async def log_in(page: Any, url: str, email: str) -> None:
    """Log in as a person does: the form's labelled fields and its button (the password is the fixtures' PASSWORD)."""
    await page.goto(f"{url}/login")
    await page.get_by_label("E-mail address").fill(email)
    await page.get_by_label("Password").fill(PASSWORD)
    await page.get_by_role("button", name="Log in").click()


async def mail_link(inbox: Inbox, recipient: str, count: int = 1) -> str:
    """The full link in the `count`-th mail to `recipient`, as the person would click it."""
    async with asyncio.timeout(15):
        while len(inbox.to(recipient)) < count:  # noqa: ASYNC110 - the SMTP server fills it from its own thread
            await asyncio.sleep(0.05)
    body = body_of(inbox.to(recipient)[count - 1])
    match = re.search(r"https?://\S+/(?:confirm|password/reset|invitation)/[A-Za-z0-9_-]+", body)
    assert match, body
    return match.group(0)


async def test_register_confirm_invite_log_out_and_reset_the_password(
    browser: Any, site: tuple[str, Inbox], db: asyncpg.Pool
) -> None:
    from playwright.async_api import expect

    url, inbox = site
    async with db.acquire() as connection:
        enrolled = await create_customer(
            connection,
            name="Jordan Avery",
            email="jordan@example.com",
            password=None,  # enrolled by staff; Jordan registers online
            account="1234",
            address="12 Elm Street, Springfield",
            security_code="4711",
        )
        customer = type(
            "C",
            (),
            {
                "account": "1234",
                "panel_id": enrolled.panel_id,
                "site_id": enrolled.site_id,
                "customer_id": enrolled.customer_id,
            },
        )
        signals = (
            # description, category, code, zone, user, minutes ago
            ("Periodic test report", "test", "602", None, None, 1460),
            ("Closing (armed) by user", "open_close", "401", None, "3", 610),
            ("AC power loss", "power", "301", None, None, 185),
            ("AC power restored", "power", "301", None, None, 150),
            ("Opening (disarmed) by user", "open_close", "401", None, "3", 95),
            ("Burglary alarm: entry/exit door", "alarm", "134", "3", None, 12),
        )
        for number, (description, category, code, zone, user, minutes) in enumerate(signals):
            await add_signal(
                connection,
                customer,
                description=description,
                category=category,
                code=code,
                zone=zone,
                user_number=user,
                minutes_ago=minutes,
                sequence=f"{number:04d}",
            )

    context = await browser.new_context(viewport={"width": 1280, "height": 860})
    page = await context.new_page()

    # Register with the account number and the security system's code.
    await page.goto(f"{url}/")
    await expect(page.get_by_role("heading", name="Sign in to Sentinel Monitoring")).to_be_visible()
    await page.get_by_role("link", name="Register here").click()
    await page.get_by_label("Account number").fill("1234")
    await page.get_by_label("Security system code").fill("4711")
    await page.get_by_label("Your name").fill("Jordan Avery")
    await page.get_by_label("E-mail address").fill("jordan@example.com")
    await page.get_by_label("Password", exact=True).fill(PASSWORD)
    await page.get_by_label("Confirm password").fill(PASSWORD)
    await page.get_by_role("button", name="Submit").click()
    await expect(page.get_by_role("heading", name="Welcome, Jordan Avery")).to_be_visible()
    await expect(page.get_by_text("Please confirm your e-mail address")).to_be_visible()

    # Confirm through the link in the mail the SMTP server received.
    await page.goto(await mail_link(inbox, "jordan@example.com"))
    await page.get_by_role("button", name="Confirm my e-mail address").click()
    await expect(page.get_by_text("jordan@example.com is confirmed")).to_be_visible()
    await expect(page.get_by_text("Please confirm your e-mail address")).to_have_count(0)
    await expect(page.get_by_role("cell", name="Burglary alarm: entry/exit door")).to_be_visible()
    await expect(page.get_by_text("Alarms and emergencies")).to_be_visible()
    SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(SCREENSHOT), full_page=True)

    # Invite a secondary user, who sets their own password through the link.
    await page.get_by_role("navigation", name="Portal menu").get_by_role("link", name="Users").click()
    await page.get_by_label("Name").fill("Sam Avery")
    await page.get_by_label("E-mail address").fill("sam@example.com")
    await page.get_by_role("button", name="Send invitation").click()
    await expect(page.get_by_text("We sent Sam Avery an invitation at sam@example.com.")).to_be_visible()
    guest = await browser.new_context()
    sam = await guest.new_page()
    await sam.goto(await mail_link(inbox, "sam@example.com"))
    await sam.get_by_label("Password", exact=True).fill(NEW_PASSWORD)
    await sam.get_by_label("Confirm password").fill(NEW_PASSWORD)
    await sam.get_by_role("button", name="Set password").click()
    await expect(sam.get_by_role("heading", name="Welcome, Sam Avery")).to_be_visible()
    await expect(sam.get_by_role("link", name="Users")).to_have_count(0)
    await guest.close()

    # Log out.
    await page.get_by_role("button", name="Log out").click()
    await expect(page.get_by_text("You are logged out.")).to_be_visible()
    await page.goto(f"{url}/dashboard")
    await expect(page).to_have_url(re.compile(r"/login\?next=(%2F|/)dashboard$"))

    # Forgot password: a mail with a single-use link; reset; log in with the new password.
    await page.get_by_role("link", name="Forgot password?").click()
    await page.get_by_label("Username (e-mail address)").fill("jordan@example.com")
    await page.get_by_role("button", name="Change password").click()
    await expect(page.get_by_text("If jordan@example.com has a login")).to_be_visible()
    reset_link = await mail_link(inbox, "jordan@example.com", count=2)
    assert "/password/reset/" in reset_link
    await page.goto(reset_link)
    await expect(page.get_by_role("heading", name="Reset password")).to_be_visible()
    await page.get_by_label("New password", exact=True).fill(NEW_PASSWORD)
    await page.get_by_label("Confirm new password").fill(NEW_PASSWORD)
    await page.get_by_role("button", name="Submit").click()
    await expect(page.get_by_text("Your password is reset.")).to_be_visible()
    await page.goto(reset_link)
    await expect(page.get_by_role("heading", name="Not found")).to_be_visible()  # used once
    await page.goto(f"{url}/login")
    await page.get_by_label("E-mail address").fill("jordan@example.com")
    await page.get_by_label("Password").fill(NEW_PASSWORD)
    await page.get_by_role("button", name="Log in").click()
    await expect(page.get_by_role("heading", name="Welcome, Jordan Avery")).to_be_visible()
    await context.close()


async def test_keyboard_users_reach_the_content_and_see_errors_next_to_fields(
    browser: Any, site: tuple[str, Inbox]
) -> None:
    from playwright.async_api import expect

    url, _ = site
    context = await browser.new_context(viewport={"width": 390, "height": 844})  # a phone
    page = await context.new_page()
    await page.goto(f"{url}/login")
    await page.keyboard.press("Tab")
    await expect(page.get_by_role("link", name="Skip to content")).to_be_focused()
    await page.get_by_label("E-mail address").fill("nobody@example.com")
    await page.get_by_label("Password").fill("wrong password")
    await page.get_by_label("Password").press("Enter")
    await expect(page.get_by_role("alert")).to_contain_text("The e-mail address or the password is wrong")
    await page.goto(f"{url}/register")
    await page.get_by_role("button", name="Submit").click()
    account = page.get_by_label("Account number")
    await expect(account).to_have_attribute("aria-invalid", "true")
    await expect(account).to_have_accessible_description(re.compile("3 to 16 digits"))
    width = await page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390  # nothing overflows sideways on a phone
    await context.close()
