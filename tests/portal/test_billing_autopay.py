"""The Set up Autopay page (C6): set up, change and stop autopay, its status, and who may change it."""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import asyncpg

from portal.billing.methods import long_date
from tests.portal.conftest import Customer, Portal
from tests.portal.test_billing_methods import NEW, bank, card

AUTOPAY = "/billing/autopay"
SEED_PROMISE = (
    "Your automatic payment will be drafted on your selected day starting the next billing cycle and will continue "
    "monthly on the selected day"
)


def portal_today() -> date:
    return datetime.now(ZoneInfo("UTC")).date()  # the test config's portal.timezone


def first_draft(day: int) -> date:
    """Autopay starts with the next billing cycle: the draft day of next month."""
    next_month = (portal_today().replace(day=1) + timedelta(days=32)).replace(day=1)
    return next_month.replace(day=day)


async def add_methods(portal: Portal, customer: Customer, db: asyncpg.Pool) -> tuple[int, int]:
    await portal.get(NEW)
    await portal.post(NEW, card(customer))
    await portal.post(NEW, bank())
    rows = await db.fetch("SELECT id FROM payment_methods WHERE customer_id = $1 ORDER BY id", customer.customer_id)
    return rows[0]["id"], rows[1]["id"]


async def test_without_a_method_the_page_leads_to_adding_one_and_back(
    portal: Portal, customers: tuple[Customer, Customer]
) -> None:
    alpha, _ = customers
    await portal.login(alpha.owner_email)
    text = await (await portal.get(AUTOPAY)).text()
    assert "Set up Autopay" in text and "Autopay: off" in text and SEED_PROMISE in text
    assert "Sandbox — no real money" in text
    assert "no payment method on file" in text
    assert 'href="/billing/payment-methods/new?next=/billing/autopay"' in text and "Add a new payment method" in text
    back = await portal.post(NEW, {**card(alpha), "next": "/billing/autopay"})
    assert back.url.path == AUTOPAY
    page = await back.text()
    method_id = back.url.query["method_id"]
    assert re.search(rf'<option value="{method_id}" selected>Visa ending in 4242', page)


async def test_set_up_change_and_stop_autopay(
    portal: Portal, db: asyncpg.Pool, customers: tuple[Customer, Customer]
) -> None:
    alpha, _ = customers
    await portal.login(alpha.owner_email)
    card_id, bank_id = await add_methods(portal, alpha, db)
    page = await (await portal.get(AUTOPAY)).text()
    assert f'<option value="{card_id}" selected>' in page  # the default method is preselected
    assert page.count('<option value="') >= 2 + 28 and ">28th<" in page and ">29th<" not in page

    response = await portal.post(AUTOPAY, {"method_id": str(bank_id), "draft_day": "15"})
    assert response.status == 200 and response.url.path == AUTOPAY
    text = await response.text()
    assert f"Autopay: on, next draft {long_date(first_draft(15))}" in text
    assert "Autopay is on" in text and "ending in 6789" in text and "Stop autopay" in text
    row = await db.fetchrow("SELECT * FROM autopay WHERE customer_id = $1", alpha.customer_id)
    assert (row["method_id"], row["draft_day"], row["starts_period"]) == (bank_id, 15, first_draft(1))
    assert row["updated_by"] == alpha.owner_id

    changed = await portal.post(AUTOPAY, {"method_id": str(card_id), "draft_day": "3"})
    assert f"Autopay: on, next draft {long_date(first_draft(3))}" in await changed.text()
    row = await db.fetchrow("SELECT * FROM autopay WHERE customer_id = $1", alpha.customer_id)
    assert (row["method_id"], row["draft_day"], row["starts_period"]) == (card_id, 3, first_draft(1))
    listing = await (await portal.get("/billing/payment-methods")).text()
    assert f"Autopay: on, next draft {long_date(first_draft(3))}" in listing

    stopped = await portal.post(AUTOPAY + "/cancel")
    text = await stopped.text()
    assert stopped.url.path == AUTOPAY and "Autopay is off" in text and "Autopay: off" in text
    assert await db.fetchval("SELECT count(*) FROM autopay WHERE customer_id = $1", alpha.customer_id) == 0
    # Autopay off: the bank account it used can go now.
    removed = await portal.post(f"/billing/payment-methods/{bank_id}/remove")
    assert removed.status == 200 and "is removed" in await removed.text()


async def test_a_bad_day_or_method_is_refused_by_its_field(
    portal: Portal, other_portal: Portal, db: asyncpg.Pool, customers: tuple[Customer, Customer]
) -> None:
    alpha, beta = customers
    await portal.login(alpha.owner_email)
    card_id, _ = await add_methods(portal, alpha, db)
    for day in ("29", "0", "x", ""):
        refused = await portal.post(AUTOPAY, {"method_id": str(card_id), "draft_day": day})
        text = await refused.text()
        assert refused.status == 422 and 'id="f-draft_day-error"' in text, day
    refused = await portal.post(AUTOPAY, {"method_id": "", "draft_day": "5"})
    assert refused.status == 422 and "choose the payment method" in await refused.text()

    # Another customer's method is simply not found, and nothing is set up for either customer.
    await other_portal.login(beta.owner_email)
    await other_portal.get(AUTOPAY)
    stolen = await other_portal.post(AUTOPAY, {"method_id": str(card_id), "draft_day": "5"})
    assert stolen.status == 404
    assert await db.fetchval("SELECT count(*) FROM autopay") == 0


async def test_a_secondary_user_sees_the_status_and_needs_the_grant_to_change_it(
    portal: Portal, other_portal: Portal, db: asyncpg.Pool, customers: tuple[Customer, Customer]
) -> None:
    alpha, _ = customers
    await portal.login(alpha.owner_email)
    card_id, _ = await add_methods(portal, alpha, db)
    await portal.post(AUTOPAY, {"method_id": str(card_id), "draft_day": "7"})

    await other_portal.login(alpha.secondary_email)
    text = await (await other_portal.get(AUTOPAY)).text()
    assert f"Autopay: on, next draft {long_date(first_draft(7))}" in text
    assert "Stop autopay" not in text and 'name="draft_day"' not in text and "Only the account owner" in text
    assert (await other_portal.post(AUTOPAY, {"method_id": str(card_id), "draft_day": "9"})).status == 403
    assert (await other_portal.post(AUTOPAY + "/cancel")).status == 403
    assert await db.fetchval("SELECT draft_day FROM autopay WHERE customer_id = $1", alpha.customer_id) == 7

    await portal.get("/users")
    await portal.post(f"/users/{alpha.secondary_id}/permissions", {"permissions": "manage_payment_methods"})
    text = await (await other_portal.get(AUTOPAY)).text()
    assert "Stop autopay" in text and 'name="draft_day"' in text
    changed = await other_portal.post(AUTOPAY, {"method_id": str(card_id), "draft_day": "9"})
    assert changed.status == 200 and f"next draft {long_date(first_draft(9))}" in await changed.text()
    assert await db.fetchval("SELECT updated_by FROM autopay WHERE customer_id = $1", alpha.customer_id) == (
        alpha.secondary_id
    )
