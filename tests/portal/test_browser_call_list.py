"""The call list in headless Chromium: the owner adds two contacts, reorders them by keyboard alone (focus stays on
the moved contact's button), and by drag and drop; a drag on a page older than the list is refused."""

from __future__ import annotations

from typing import Any

import asyncpg
import pytest

from bench.smtp_inbox import Inbox
from shared.call_list import move_contact
from shared.scope import CustomerScope
from tests.portal.conftest import Customer
from tests.portal.test_browser import CHROMIUM, browser, log_in, site  # noqa: F401 - fixtures

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's chromium is not installed at /usr/bin/chromium"),
]


async def _log_in(page: Any, url: str, email: str) -> None:
    await log_in(page, url, email)


async def _add(page: Any, name: str, phone: str, relation: str) -> None:
    await page.get_by_label("Name", exact=True).fill(name)
    await page.get_by_label("Phone", exact=True).fill(phone)
    await page.get_by_label("Relation").fill(relation)
    await page.get_by_role("button", name="Add contact").click()


async def _order(db: asyncpg.Pool, site_id: int) -> list[str]:
    rows = await db.fetch("SELECT name FROM call_list_contacts WHERE site_id = $1 ORDER BY position", site_id)
    return [row["name"] for row in rows]


def _rows(page: Any) -> Any:
    return page.get_by_role("table", name="Call list for Premises").locator("tbody tr")


async def test_the_owner_adds_two_contacts_and_reorders_them_by_keyboard_and_by_dragging(
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
    await _log_in(page, url, alpha.owner_email)
    await page.get_by_role("navigation", name="Portal menu").get_by_role("link", name="Call list").click()
    await expect(page.get_by_role("heading", name="Call list", exact=True)).to_be_visible()

    await _add(page, "Ann Lee", "(555) 010-0199", "Neighbour")
    await expect(page.get_by_text("Ann Lee is added to the call list for Premises.")).to_be_visible()
    await _add(page, "Bob Ray", "+1 555 222 3333", "Son")
    await expect(_rows(page)).to_have_count(2)
    await expect(_rows(page).nth(0)).to_contain_text("Ann Lee")
    await expect(_rows(page).nth(1)).to_contain_text("Bob Ray")
    assert await _order(db, alpha.site_id) == ["Ann Lee", "Bob Ray"]

    # Keyboard only: focus "Move up" for Bob and press Enter. The page comes back with the focus on Bob's remaining
    # button ("Move down": he is first now), so pressing Space moves him straight back.
    move_up = page.get_by_role("button", name="Move up: Bob Ray")
    await move_up.focus()
    await expect(move_up).to_be_focused()
    await page.keyboard.press("Enter")
    await expect(page.get_by_text("Bob Ray is now number 1 on the call list.")).to_be_visible()
    await expect(_rows(page).nth(0)).to_contain_text("Bob Ray")
    assert await _order(db, alpha.site_id) == ["Bob Ray", "Ann Lee"]
    move_down = page.get_by_role("button", name="Move down: Bob Ray")
    await expect(move_down).to_be_focused()
    await page.keyboard.press("Space")
    await expect(page.get_by_text("Bob Ray is now number 2 on the call list.")).to_be_visible()
    await expect(_rows(page).nth(0)).to_contain_text("Ann Lee")
    assert await _order(db, alpha.site_id) == ["Ann Lee", "Bob Ray"]
    await expect(page.get_by_role("button", name="Move up: Bob Ray")).to_be_focused()
    # Tab goes on from there to the next control in Bob's row, as a keyboard user expects.
    await page.keyboard.press("Tab")
    await expect(page.get_by_role("link", name="Edit Bob Ray")).to_be_focused()

    # Drag and drop: Bob's row onto the top half of Ann's.
    bob_row, ann_row = _rows(page).nth(1), _rows(page).nth(0)
    await bob_row.drag_to(ann_row, source_position={"x": 20, "y": 10}, target_position={"x": 20, "y": 2})
    await expect(page.get_by_text("The new order of the call list is saved.")).to_be_visible()
    await expect(_rows(page).nth(0)).to_contain_text("Bob Ray")
    await expect(_rows(page).nth(0).get_by_role("cell").first).to_have_text("1")
    assert await _order(db, alpha.site_id) == ["Bob Ray", "Ann Lee"]

    # Every change is in the history, with who made it.
    history = page.get_by_role("table", name="Changes to this call list")
    await expect(history.get_by_role("row")).to_have_count(6)  # the header, two additions and three moves
    await expect(history.get_by_role("row").nth(1)).to_contain_text("Moved Bob Ray from position 2 to 1")
    await expect(history.get_by_role("row").nth(1)).to_contain_text("Customer alpha")

    # Meanwhile someone else puts Ann back on top; a drag on this page, older than the list, is refused and the page
    # shows the list as it is now, so the other person's move is not silently undone.
    async with db.acquire() as connection:
        ann = await connection.fetchval("SELECT id FROM call_list_contacts WHERE name = 'Ann Lee'")
        await move_contact(connection, CustomerScope(alpha.customer_id, alpha.owner_id), ann, "up")
    bob_row, ann_row = _rows(page).nth(0), _rows(page).nth(1)
    await ann_row.drag_to(bob_row, source_position={"x": 20, "y": 10}, target_position={"x": 20, "y": 2})
    await expect(page.get_by_role("alert")).to_have_text(
        "The call list has changed since you opened it: here it is as it is now"
    )
    await expect(_rows(page).nth(0)).to_contain_text("Ann Lee")
    assert await _order(db, alpha.site_id) == ["Ann Lee", "Bob Ray"]
    await context.close()
