"""One Time payment through the portal (C4): the form, charging once whatever the clicks, declines, pending, credit."""

from __future__ import annotations

import asyncio
import re
from decimal import Decimal
from pathlib import Path

import asyncpg
import pytest

from shared.billing.ledger import credit_available, ledger_problems
from shared.billing.payments import reconcile_pending
from shared.billing.sandbox import SandboxGateway
from shared.config import Config
from tests.portal.billing_setup import VISA_DECLINED, VISA_TIMEOUT, add_card, idempotency_key, issue
from tests.portal.conftest import Customer, Portal, portal_config

# Long enough for a loaded 2-core machine to answer five simultaneous charges of one form (0.3 s timed out in a
# full run: the payment was left pending, correctly, and the test read an unpaid invoice); the timeout card waits it.
GATEWAY_TIMEOUT = 2.0


@pytest.fixture
def config(tmp_path: Path) -> Config:
    return portal_config(tmp_path, billing__gateway_timeout=GATEWAY_TIMEOUT)


async def pay_form(portal: Portal, *invoice_ids: int) -> str:
    query = "&".join(f"invoice_ids={i}" for i in invoice_ids)
    response = await portal.get(f"/billing/pay?{query}")
    assert response.status == 200
    return await response.text()


async def counts(db: asyncpg.Pool) -> tuple[int, int]:
    payments = await db.fetchval("SELECT count(*) FROM payments")
    charges = await db.fetchval("SELECT count(*) FROM sandbox_charges")
    return payments, charges


async def balances(db: asyncpg.Pool, *invoice_ids: int) -> list[Decimal]:
    rows = await db.fetch(
        "SELECT i.id, i.total - coalesce(sum(a.amount), 0) AS balance FROM invoices i "
        "LEFT JOIN allocations a ON a.invoice_id = i.id WHERE i.id = ANY($1::bigint[]) GROUP BY i.id",
        list(invoice_ids),
    )
    by_id = {row["id"]: row["balance"] for row in rows}
    return [by_id[i] for i in invoice_ids]


def error_of(page: str, field: str) -> str:
    match = re.search(rf'id="f-{field}-error">([^<]*)<', page)
    assert match, f"no error for {field}"
    return match.group(1)


async def test_the_pay_page_ticks_the_chosen_invoices_fills_their_balance_and_picks_the_default_method(
    portal: Portal, db: asyncpg.Pool, customers: tuple[Customer, Customer]
) -> None:
    alpha, _ = customers
    await add_card(db, alpha, make_default=False)
    default = await add_card(db, alpha, "5555555555554444", make_default=True)
    first = await issue(db, alpha, "39.99")
    second = await issue(db, alpha, "10.01")
    third = await issue(db, alpha, "5.00")
    await portal.login(alpha.owner_email)
    page = await pay_form(portal, first.id, second.id)
    assert "Sandbox — no real money" in page
    assert re.search(rf'value="{default.id}" checked', page) and page.count(" checked") == 3  # method + 2 invoices
    assert re.search(rf'value="{first.id}" id="pay-{first.id}" checked', page)
    assert re.search(rf'value="{third.id}" id="pay-{third.id}">', page)  # listed, not ticked
    assert 'name="amount" type="text" value="50.00"' in page
    key = idempotency_key(page)
    assert len(key) >= 32 and idempotency_key(await pay_form(portal, first.id)) != key  # a new key per form shown
    # "Add new payment method" comes back to this very page, the same invoices ticked.
    if "/billing/payment-methods/new" in page:
        assert f"next=%2Fbilling%2Fpay%3Finvoice_ids%3D{first.id}%26invoice_ids%3D{second.id}" in page


async def test_paying_two_ticked_invoices_confirms_with_the_receipt_and_pays_them(
    portal: Portal, db: asyncpg.Pool, customers: tuple[Customer, Customer]
) -> None:
    alpha, _ = customers
    card = await add_card(db, alpha)
    first = await issue(db, alpha, "39.99", due_in_days=-2)
    second = await issue(db, alpha, "10.01")
    await portal.login(alpha.secondary_email)  # a secondary user pays with the method on file
    key = idempotency_key(await pay_form(portal, first.id, second.id))
    form = {"method_id": card.id, "amount": "50.00", "invoice_ids": [first.id, second.id], "idempotency_key": key}
    response = await portal.post("/billing/pay", form, allow_redirects=False)
    assert response.status == 303
    payment = await db.fetchrow("SELECT * FROM payments")
    assert response.headers["Location"] == f"/billing/payments/{payment['id']}"
    assert payment["status"] == "succeeded" and payment["amount"] == Decimal("50.00")
    assert payment["source"] == "portal" and payment["created_by"] == alpha.secondary_id
    assert await balances(db, first.id, second.id) == [Decimal("0.00"), Decimal("0.00")]
    assert await db.fetchval("SELECT count(*) FROM billing_notices WHERE kind = 'receipt'") == 1

    page = await (await portal.get(response.headers["Location"])).text()
    assert f"Thank you — payment {payment['number']} of $50.00 received" in page
    assert f"{first.number}" in page and "$39.99" in page and f"{second.number}" in page and "$10.01" in page
    assert f'href="/billing/payments/{payment["id"]}/receipt.pdf"' in page
    assert f"A receipt is on its way to {alpha.owner_email}" in page
    assert "Processing" not in page and "refresh" not in page
    async with db.acquire() as connection:
        assert await ledger_problems(connection, alpha.customer_id) == []


async def test_a_declined_card_says_why_next_to_the_method_charges_nothing_and_gives_a_new_key(
    portal: Portal, db: asyncpg.Pool, customers: tuple[Customer, Customer]
) -> None:
    alpha, _ = customers
    declined = await add_card(db, alpha, VISA_DECLINED)
    invoice = await issue(db, alpha, "20.00")
    await portal.login(alpha.owner_email)
    key = idempotency_key(await pay_form(portal, invoice.id))
    form = {"method_id": declined.id, "amount": "20.00", "invoice_ids": invoice.id, "idempotency_key": key}
    response = await portal.post("/billing/pay", form, allow_redirects=False)
    page = await response.text()
    assert response.status == 422
    assert "declined" in error_of(page, "method_id").lower()
    assert "nothing was charged" in page
    assert re.search(rf'value="{invoice.id}" id="pay-{invoice.id}" checked', page)  # the form as it was
    new_key = idempotency_key(page)
    assert new_key != key
    assert await balances(db, invoice.id) == [Decimal("20.00")]
    assert await db.fetchval("SELECT count(*) FROM allocations") == 0
    assert await db.fetchval("SELECT status FROM payments") == "declined"
    # The same (declined) submission again is that payment, not a second charge; the new key is a new attempt.
    again = await portal.post("/billing/pay", form, allow_redirects=False)
    assert again.status == 303 and await counts(db) == (1, 1)
    retry = await portal.post("/billing/pay", {**form, "idempotency_key": new_key}, allow_redirects=False)
    assert retry.status == 422 and await counts(db) == (2, 2)


async def test_one_form_submitted_many_times_at_once_is_one_payment_and_one_charge(
    portal: Portal, db: asyncpg.Pool, customers: tuple[Customer, Customer]
) -> None:
    alpha, _ = customers
    card = await add_card(db, alpha)
    invoice = await issue(db, alpha, "99.95")
    await portal.login(alpha.owner_email)
    key = idempotency_key(await pay_form(portal, invoice.id))
    form = {"method_id": card.id, "amount": "99.95", "invoice_ids": invoice.id, "idempotency_key": key}
    # A double click, a second tab and an impatient third: the same form, concurrently.
    responses = await asyncio.gather(*(portal.post("/billing/pay", form, allow_redirects=False) for _ in range(5)))
    assert {r.status for r in responses} == {303}
    assert len({r.headers["Location"] for r in responses}) == 1
    assert await counts(db) == (1, 1)
    # Refresh / back-and-resubmit afterwards: the same payment's page again, nothing charged.
    later = await portal.post("/billing/pay", form, allow_redirects=False)
    assert later.status == 303 and later.headers["Location"] == responses[0].headers["Location"]
    assert await counts(db) == (1, 1)
    assert await balances(db, invoice.id) == [Decimal("0.00")]


async def test_paying_more_than_the_ticked_invoices_leaves_credit_and_says_so(
    portal: Portal, db: asyncpg.Pool, customers: tuple[Customer, Customer]
) -> None:
    alpha, _ = customers
    card = await add_card(db, alpha)
    ticked = await issue(db, alpha, "30.00")
    other = await issue(db, alpha, "45.00")
    await portal.login(alpha.owner_email)
    page = await pay_form(portal, ticked.id)
    assert "becomes credit" in page
    form = {
        "method_id": card.id,
        "amount": "100.00",
        "invoice_ids": ticked.id,
        "idempotency_key": idempotency_key(page),
    }
    response = await portal.post("/billing/pay", form)
    confirmation = await response.text()
    assert "$70.00" in confirmation and "credit" in confirmation
    assert await balances(db, ticked.id, other.id) == [Decimal("0.00"), Decimal("45.00")]
    async with db.acquire() as connection:
        assert await credit_available(connection, alpha.customer_id) == Decimal("70.00")


async def test_amounts_per_invoice_and_a_partial_payment(
    portal: Portal, db: asyncpg.Pool, customers: tuple[Customer, Customer]
) -> None:
    alpha, _ = customers
    card = await add_card(db, alpha)
    older = await issue(db, alpha, "40.00", due_in_days=-5)
    newer = await issue(db, alpha, "60.00")
    await portal.login(alpha.owner_email)
    key = idempotency_key(await pay_form(portal, older.id, newer.id))
    form = {
        "method_id": card.id,
        "amount": "50.50",
        "invoice_ids": [older.id, newer.id],
        f"allocate_{newer.id}": "45.25",
        "idempotency_key": key,
    }
    response = await portal.post("/billing/pay", form, allow_redirects=False)
    assert response.status == 303
    # The newer invoice got what was asked for it, the rest went to the older one.
    assert await balances(db, older.id, newer.id) == [Decimal("34.75"), Decimal("14.75")]


async def test_wrong_fields_come_back_marked_and_nothing_is_charged(
    portal: Portal, db: asyncpg.Pool, customers: tuple[Customer, Customer]
) -> None:
    alpha, beta = customers
    card = await add_card(db, alpha)
    betas_card = await add_card(db, beta)
    invoice = await issue(db, alpha, "25.00")
    betas_invoice = await issue(db, beta, "25.00")
    await portal.login(alpha.owner_email)
    key = idempotency_key(await pay_form(portal, invoice.id))
    base = {"method_id": card.id, "amount": "25.00", "invoice_ids": invoice.id, "idempotency_key": key}
    cases = [
        ({"amount": "12.345"}, "amount", "two decimals"),
        ({"amount": "-5"}, "amount", "greater than zero"),
        ({"amount": "lots"}, "amount", "as a number"),
        ({"method_id": betas_card.id}, "method_id", "Choose a payment method"),
        ({"method_id": "x"}, "method_id", "Choose a payment method"),
        ({f"allocate_{invoice.id}": "25.01"}, f"allocate_{invoice.id}", "enter at most that"),
        ({"amount": "10.00", f"allocate_{invoice.id}": "20.00"}, "amount", "more than this payment"),
        ({"invoice_ids": [invoice.id, betas_invoice.id]}, "invoice_ids", "paid or voided"),
    ]
    for change, field, message in cases:
        response = await portal.post("/billing/pay", {**base, **change})
        page = await response.text()
        assert response.status == 422, change
        assert message in error_of(page, field), (change, error_of(page, field))
        assert betas_invoice.number not in page and "Customer beta" not in page
    form_key = await portal.post("/billing/pay", {**base, "idempotency_key": "short"})
    assert form_key.status == 400 and "out of date" in await form_key.text()
    assert await counts(db) == (0, 0)


async def test_a_gateway_timeout_leaves_the_payment_processing_until_it_is_confirmed(
    portal: Portal, db: asyncpg.Pool, customers: tuple[Customer, Customer]
) -> None:
    alpha, _ = customers
    slow = await add_card(db, alpha, VISA_TIMEOUT)
    invoice = await issue(db, alpha, "42.00")
    await portal.login(alpha.owner_email)
    key = idempotency_key(await pay_form(portal, invoice.id))
    form = {"method_id": slow.id, "amount": "42.00", "invoice_ids": invoice.id, "idempotency_key": key}
    response = await portal.post("/billing/pay", form, allow_redirects=False)
    assert response.status == 303
    location = response.headers["Location"]
    progress = await portal.get(location)
    page = await progress.text()
    assert "Processing — we are confirming this payment with the bank" in page
    assert '<meta http-equiv="refresh" content="3">' in page and progress.headers["Refresh"] == "3"
    assert await balances(db, invoice.id) == [Decimal("42.00")]
    # Submitting again while it is pending charges nothing more.
    again = await portal.post("/billing/pay", form, allow_redirects=False)
    assert again.headers["Location"] == location and await counts(db) == (1, 1)
    # The worker asks the gateway by the payment's key; the charge went through.
    assert (
        await reconcile_pending(db, SandboxGateway(db, timeout=GATEWAY_TIMEOUT), older_than=0, give_up_after=3600) == 1
    )
    settled = await portal.get(location)
    page = await settled.text()
    assert "Thank you" in page and "Processing" not in page and "Refresh" not in settled.headers
    assert await balances(db, invoice.id) == [Decimal("0.00")]


async def test_without_a_method_on_file_the_page_leads_to_adding_one_or_says_who_can(
    portal: Portal, db: asyncpg.Pool, customers: tuple[Customer, Customer]
) -> None:
    alpha, _ = customers
    invoice = await issue(db, alpha, "25.00")
    await portal.login(alpha.owner_email)
    page = await pay_form(portal, invoice.id)
    assert "no payment method on file" in page
    if "billing.method_new" in portal.client.app.router:
        assert "Add new payment method" in page and "/billing/payment-methods/new?next=" in page
    await portal.logout()
    await portal.login(alpha.secondary_email)  # no manage_payment_methods grant
    page = await pay_form(portal, invoice.id)
    assert "Add new payment method" not in page
    assert "Only Customer alpha can add a payment method" in page or f"Only {alpha.owner_email}" in page


async def test_another_customers_payment_page_is_not_found(
    portal: Portal, db: asyncpg.Pool, customers: tuple[Customer, Customer]
) -> None:
    alpha, beta = customers
    card = await add_card(db, alpha)
    invoice = await issue(db, alpha, "25.00")
    await portal.login(alpha.owner_email)
    key = idempotency_key(await pay_form(portal, invoice.id))
    form = {"method_id": card.id, "amount": "25.00", "invoice_ids": invoice.id, "idempotency_key": key}
    location = (await portal.post("/billing/pay", form, allow_redirects=False)).headers["Location"]
    await portal.logout()
    await portal.login(beta.owner_email)
    assert (await portal.get(location)).status == 404
    # Beta posting alpha's form key and method charges nothing and shows nothing of alpha's.
    response = await portal.post("/billing/pay", form)
    assert response.status == 422 and invoice.number not in await response.text()
    assert await counts(db) == (1, 1)
