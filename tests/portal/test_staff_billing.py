"""Staff billing on the customer record: the Billing section, the monthly fee, invoices created and voided, refunds
through the sandbox gateway, and the admins' billing page — each id in a path checked against the customer named."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import asyncpg

from shared.billing.cycle import current_period
from shared.billing.invoices import IssuedInvoice
from shared.billing.ledger import ledger_problems
from shared.billing.payments import PaymentRequest, pay
from shared.billing.sandbox import SandboxGateway
from shared.config import Config
from tests.portal.billing_setup import add_card, idempotency_key, issue, today
from tests.portal.conftest import Customer, Portal
from tests.shared.billing import ledger_setup

_INVOICE_PATH = re.compile(r"/billing/invoices/([0-9]+)$")


def record(customer: Customer) -> str:
    return f"/staff/customers/{customer.customer_id}"


async def paid(db: asyncpg.Pool, customer: Customer, invoice: IssuedInvoice, amount: str) -> int:
    """A payment of `amount` on `invoice` with a sandbox card, through the real payment path."""
    method = await add_card(db, customer)
    outcome = await pay(
        db,
        SandboxGateway(db, timeout=1.0),
        PaymentRequest(
            customer_id=customer.customer_id,
            method_id=method.id,
            amount=Decimal(amount),
            requested=None,
            invoice_ids=[invoice.id],
            idempotency_key=f"staff-billing-test-{invoice.id}",
            source="portal",
            created_by=customer.owner_id,
        ),
    )
    assert outcome.status == "succeeded", outcome
    return outcome.payment_id


async def test_the_billing_section_shows_the_ledger_and_its_forms_to_admins_only(
    portal: Portal, db: asyncpg.Pool, customers: tuple[Customer, Customer]
) -> None:
    alpha, _ = customers
    first = await issue(db, alpha, "39.99")
    await issue(db, alpha, "10.00")
    await paid(db, alpha, first, "50.00")  # 39.99 on the first invoice (the one ticked), 10.01 left as credit
    await portal.login("admin@example.com")
    page = await (await portal.get(record(alpha))).text()
    assert 'id="billing-title">Billing' in page and first.number in page
    assert "Balance due</dt><dd><strong>$10.00" in page and "Credit</dt><dd>$10.01" in page
    assert "Visa ending in 4242" in page and "Set the monthly fee" in page and "Create an invoice" in page
    await portal.logout()

    await portal.login("dispatcher@example.com")
    page = await (await portal.get(record(alpha))).text()
    assert first.number in page and "Credit</dt><dd>$10.01" in page  # dispatchers read billing ...
    assert "Set the monthly fee" not in page and "Create an invoice" not in page  # ... and change nothing
    refused = await portal.post(f"{record(alpha)}/billing/fee", {"monthly_fee": "1.00"})
    assert refused.status == 403
    assert (await portal.get(f"{record(alpha)}/billing/invoices/new")).status == 403


async def test_an_admin_sets_the_monthly_fee(
    portal: Portal, db: asyncpg.Pool, customers: tuple[Customer, Customer]
) -> None:
    alpha, beta = customers
    await portal.login("admin@example.com")
    fee = f"{record(alpha)}/billing/fee"
    for bad in ("abc", "12.345", "-3", "1000000"):
        refused = await portal.post(fee, {"monthly_fee": bad})
        assert refused.status == 400 and 'id="f-monthly_fee-error"' in await refused.text(), bad
    assert await db.fetchval("SELECT monthly_fee FROM customers WHERE id = $1", alpha.customer_id) == 0
    done = await portal.post(fee, {"monthly_fee": "$39.99"})
    assert done.url.path == record(alpha) and "a monthly fee of $39.99" in await done.text()
    fees = dict(await db.fetch("SELECT id, monthly_fee FROM customers"))
    assert fees == {alpha.customer_id: Decimal("39.99"), beta.customer_id: Decimal("0.00")}
    none = await portal.post(fee, {"monthly_fee": "0"})
    assert "no monthly fee" in await none.text()
    assert await db.fetchval("SELECT monthly_fee FROM customers WHERE id = $1", alpha.customer_id) == 0
    assert (await portal.post("/staff/customers/999999/billing/fee", {"monthly_fee": "5"})).status == 404


async def test_an_admin_creates_an_invoice_with_lines(
    portal: Portal, db: asyncpg.Pool, customers: tuple[Customer, Customer]
) -> None:
    alpha, _ = customers
    await portal.login("admin@example.com")
    form = await (await portal.get(f"{record(alpha)}/billing/invoices/new")).text()
    assert f'value="{(today() + timedelta(days=15)).isoformat()}"' in form  # billing.invoice_due_days ahead
    create = f"{record(alpha)}/billing/invoices"
    due = (today() + timedelta(days=10)).isoformat()
    bad = await portal.post(
        create,
        {
            "due_on": "31/12/2026",
            "line_description_1": "Sensor",
            "line_amount_1": "1.005",
            "line_amount_2": "5",
            "line_description_3": "Two\nlines",
            "line_amount_3": "5",
            "line_description_4": "x" * 201,
            "line_amount_4": "5",
        },
    )
    text = await bad.text()
    for field in ("due_on", "line_amount_1", "line_description_2", "line_description_3", "line_description_4"):
        assert f'id="f-{field}-error"' in text, field
    assert bad.status == 422 and 'value="Sensor"' in text
    empty = await portal.post(create, {"due_on": due})
    assert empty.status == 422 and 'id="f-line_description_1-error"' in await empty.text()
    assert await db.fetchval("SELECT count(*) FROM invoices") == 0

    made = await portal.post(
        create,
        {
            "due_on": due,
            "description": "Upgrade",
            "line_description_1": "Two motion sensors",
            "line_amount_1": "80",
            "line_description_3": "Installation",
            "line_amount_3": "45.50",
        },
    )
    page = await made.text()
    match = _INVOICE_PATH.search(made.url.path)
    assert match, made.url
    invoice = await db.fetchrow("SELECT * FROM invoices WHERE id = $1", int(match.group(1)))
    assert invoice["customer_id"] == alpha.customer_id and invoice["total"] == Decimal("125.50")
    assert invoice["due_on"].isoformat() == due and invoice["created_by"] is not None
    assert f"Invoice {invoice['number']} is issued" in page and "Two motion sensors" in page and "$125.50" in page
    lines = await db.fetch(
        "SELECT description, amount FROM invoice_lines WHERE invoice_id = $1 ORDER BY position", invoice["id"]
    )
    assert [tuple(line) for line in lines] == [
        ("Two motion sensors", Decimal("80.00")),
        ("Installation", Decimal("45.50")),
    ]


async def test_an_admin_voids_an_invoice_and_what_was_paid_becomes_credit(
    portal: Portal, db: asyncpg.Pool, customers: tuple[Customer, Customer]
) -> None:
    alpha, beta = customers
    invoice = await issue(db, alpha, "30.00")
    await paid(db, alpha, invoice, "30.00")
    beta_invoice = await issue(db, beta, "12.00")
    await portal.login("admin@example.com")
    page = f"{record(alpha)}/billing/invoices/{invoice.id}"
    assert "Void this invoice" in await (await portal.get(page)).text()
    no_reason = await portal.post(f"{page}/void", {"reason": ""})
    assert no_reason.status == 400 and 'id="f-reason-error"' in await no_reason.text()
    # Beta's invoice under alpha's record is not found, to read or to void.
    foreign = f"{record(alpha)}/billing/invoices/{beta_invoice.id}"
    assert (await portal.get(foreign)).status == 404
    assert (await portal.post(f"{foreign}/void", {"reason": "wrong customer"})).status == 404
    assert await db.fetchval("SELECT voided_at FROM invoices WHERE id = $1", beta_invoice.id) is None

    voided = await portal.post(f"{page}/void", {"reason": "issued twice"})
    text = await voided.text()
    assert voided.url.path == page and "is void" in text and "issued twice" in text and "Void this invoice" not in text
    assert await db.fetchval("SELECT void_reason FROM invoices WHERE id = $1", invoice.id) == "issued twice"
    again = await portal.post(f"{page}/void", {"reason": "once more"})
    assert again.status == 409
    section = await (await portal.get(record(alpha))).text()
    assert "Credit</dt><dd>$30.00" in section and "Balance due</dt><dd><strong>$0.00" in section
    async with db.acquire() as connection:
        assert await ledger_problems(connection) == []


async def test_a_refund_goes_through_the_gateway_once_per_form(
    portal: Portal, db: asyncpg.Pool, customers: tuple[Customer, Customer]
) -> None:
    alpha, beta = customers
    invoice = await issue(db, alpha, "60.00")
    payment_id = await paid(db, alpha, invoice, "60.00")
    beta_payment = await paid(db, beta, await issue(db, beta, "5.00"), "5.00")
    await portal.login("admin@example.com")
    page = f"{record(alpha)}/billing/payments/{payment_id}"
    text = await (await portal.get(page)).text()
    assert "Up to $60.00 can be given back" in text
    key = idempotency_key(text)

    no_reason = await portal.post(f"{page}/refund", {"amount": "25.00", "reason": "", "idempotency_key": key})
    assert no_reason.status == 422 and 'id="f-reason-error"' in await no_reason.text()
    too_much = await portal.post(f"{page}/refund", {"amount": "60.01", "reason": "x", "idempotency_key": key})
    assert too_much.status == 409 and "At most $60.00" in await too_much.text()

    form = {"amount": "25.00", "reason": "Service outage in November", "idempotency_key": key}
    done = await portal.post(f"{page}/refund", form)
    assert done.url.path == page and "$25.00 is refunded" in await done.text()
    again = await portal.post(f"{page}/refund", form)  # a double click, a refresh: the same form, the same key
    assert again.url.path == page
    refunds = await db.fetch("SELECT amount, status, reason FROM refunds WHERE payment_id = $1", payment_id)
    assert [tuple(r) for r in refunds] == [(Decimal("25.00"), "succeeded", "Service outage in November")]
    charge = await db.fetchval("SELECT gateway_charge_id FROM payments WHERE id = $1", payment_id)
    assert await db.fetchval("SELECT sum(amount) FROM sandbox_refunds WHERE charge_id = $1", charge) == Decimal("25.00")
    # The money came back from the invoice it paid, which owes it again; a notice for the customer's e-mail waits.
    balance = await db.fetchval(
        "SELECT i.total - coalesce(sum(a.amount), 0) FROM invoices i LEFT JOIN allocations a ON a.invoice_id = i.id "
        "WHERE i.id = $1 GROUP BY i.id",
        invoice.id,
    )
    assert balance == Decimal("25.00")
    assert await db.fetchval("SELECT count(*) FROM billing_notices WHERE kind = 'refund'") == 1

    # Beta's payment under alpha's record: not found, and nothing moves.
    foreign = f"{record(alpha)}/billing/payments/{beta_payment}"
    assert (await portal.get(foreign)).status == 404
    fresh = idempotency_key(await (await portal.get(page)).text())
    stolen = await portal.post(f"{foreign}/refund", {"amount": "5.00", "reason": "x", "idempotency_key": fresh})
    assert stolen.status == 404
    assert await db.fetchval("SELECT count(*) FROM refunds WHERE payment_id = $1", beta_payment) == 0
    async with db.acquire() as connection:
        assert await ledger_problems(connection) == []


async def test_refunds_need_the_refund_permission(
    portal: Portal, db: asyncpg.Pool, customers: tuple[Customer, Customer]
) -> None:
    alpha, _ = customers
    payment_id = await paid(db, alpha, await issue(db, alpha, "20.00"), "20.00")
    page = f"{record(alpha)}/billing/payments/{payment_id}"
    await portal.login("dispatcher@example.com")
    text = await (await portal.get(page)).text()
    assert "PAY-" in text and "Up to $20.00 can be given back" not in text  # no form without the permission
    form = {"amount": "5.00", "reason": "goodwill", "idempotency_key": "k" * 24}
    assert (await portal.post(f"{page}/refund", form)).status == 403
    await db.execute("UPDATE users SET permissions = '{refund}' WHERE email = 'dispatcher@example.com'")
    key = idempotency_key(await (await portal.get(page)).text())
    granted = await portal.post(f"{page}/refund", {**form, "idempotency_key": key})
    assert "$5.00 is refunded" in await granted.text()
    assert await db.fetchval("SELECT count(*) FROM refunds WHERE status = 'succeeded'") == 1


async def test_the_admins_run_the_billing_cycle_and_see_its_runs(
    portal: Portal, db: asyncpg.Pool, customers: tuple[Customer, Customer], config: Config
) -> None:
    alpha, beta = customers
    await db.execute("UPDATE customers SET monthly_fee = 39.99 WHERE id = $1", alpha.customer_id)
    await db.execute(
        "INSERT INTO job_runs (job, tick_at, holder, finished_at, status) "
        "VALUES ('billing-cycle', now() - interval '1 hour', 'worker-host:4242', now() - interval '59 minutes', 'done')"
    )
    await portal.login("dispatcher@example.com")
    assert (await portal.get("/admin/billing")).status == 403
    assert (await portal.post("/admin/billing/cycle")).status == 403
    await portal.logout()

    await portal.login("admin@example.com")
    page = await (await portal.get("/admin/billing")).text()
    assert "Run billing cycle now" in page and "worker-host:4242" in page
    run = await portal.post("/admin/billing/cycle")
    assert run.url.path == "/admin/billing" and "1 invoice(s)" in await run.text()
    again = await portal.post("/admin/billing/cycle")
    assert "no new invoice" in await again.text()
    invoices = await db.fetch("SELECT customer_id, total, period FROM invoices")
    assert [(row["customer_id"], row["total"]) for row in invoices] == [(alpha.customer_id, Decimal("39.99"))]
    assert invoices[0]["period"] == current_period(datetime.now(UTC), config["portal.timezone"])
    assert beta.customer_id not in {row["customer_id"] for row in invoices}  # no fee, no invoice


async def test_a_refund_the_gateway_refuses_is_recorded_failed_and_said(
    portal: Portal, db: asyncpg.Pool, customers: tuple[Customer, Customer]
) -> None:
    alpha, _ = customers
    async with db.acquire() as connection:  # a payment whose charge the sandbox never made: it refuses the refund
        invoice = await ledger_setup.invoice(connection, alpha.customer_id, "15.00")
        method_id = await ledger_setup.method_row(connection, alpha.customer_id)
        payment_id = await ledger_setup.settled_payment(
            connection, alpha.customer_id, method_id, "15.00", [(invoice, Decimal("15.00"))]
        )
    await portal.login("admin@example.com")
    page = f"{record(alpha)}/billing/payments/{payment_id}"
    key = idempotency_key(await (await portal.get(page)).text())
    refused = await portal.post(f"{page}/refund", {"amount": "15.00", "reason": "duplicate", "idempotency_key": key})
    text = await refused.text()
    assert refused.status == 400 and "the gateway refused the refund" in text.lower()
    assert idempotency_key(text) != key  # trying again is a new refund; the refused one is kept as refused
    assert await db.fetchval("SELECT status FROM refunds WHERE payment_id = $1", payment_id) == "failed"
    assert await db.fetchval("SELECT count(*) FROM allocations WHERE reason = 'refund'") == 0
    async with db.acquire() as connection:
        assert await ledger_problems(connection) == []
