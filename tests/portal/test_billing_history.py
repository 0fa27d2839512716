"""The Billing Center's home, history pages, PDFs and dashboard parts, on real PostgreSQL through the portal."""

from __future__ import annotations

import io
import re
from decimal import Decimal

import asyncpg
import pytest
from pypdf import PdfReader

from shared.billing.invoices import void_invoice
from shared.billing.payments import PaymentRequest, pay
from shared.billing.sandbox import SandboxGateway
from shared.config import Config
from shared.scope import CustomerScope
from tests.portal.billing_setup import VISA_DECLINED, add_card, issue
from tests.portal.conftest import Customer, Portal, portal_config


@pytest.fixture
def config(tmp_path) -> Config:  # type: ignore[no-untyped-def]
    return portal_config(tmp_path, billing__gateway_timeout=2.0)  # a loaded machine must not turn a payment pending


async def paid_directly(
    db: asyncpg.Pool, customer: Customer, method_id: int, amount: str, invoice_ids: list[int], key: str
) -> int:
    """A payment made through the domain (as the pay page does), for the history pages to show."""
    outcome = await pay(
        db,
        SandboxGateway(db, timeout=2.0),
        PaymentRequest(
            customer_id=customer.customer_id,
            method_id=method_id,
            amount=Decimal(amount),
            requested=None,
            invoice_ids=invoice_ids,
            idempotency_key=key,
            source="portal",
            created_by=customer.owner_id,
        ),
    )
    return outcome.payment_id


def rows_of(page: str) -> list[str]:
    """The table rows of a page, tags stripped and spaces collapsed."""
    return [" ".join(re.sub(r"<[^>]+>", " ", row).split()) for row in re.findall(r"<tr>(.*?)</tr>", page, re.S)]


async def test_billing_center_home_shows_balance_credit_invoices_due_and_the_ways_to_pay(
    portal: Portal, db: asyncpg.Pool, customers: tuple[Customer, Customer]
) -> None:
    alpha, beta = customers
    first = await issue(db, alpha, "39.99", due_in_days=-3)
    second = await issue(db, alpha, "12.50", due_in_days=20)
    await issue(db, beta, "77.00")
    await portal.login(alpha.secondary_email)  # a secondary user sees the billing of the account
    response = await portal.get("/billing")
    page = await response.text()
    assert response.status == 200
    assert "Billing Center" in page and "$52.49" in page  # balance due
    assert 'action="/billing/pay"' in page and 'method="get"' in page and "Pay invoices" in page
    for invoice in (first, second):
        assert f'name="invoice_ids" value="{invoice.id}"' in page and invoice.number in page
    assert "$77.00" not in page  # beta's invoice
    overdue_row = next(row for row in rows_of(page) if first.number in row)
    assert "overdue" in overdue_row and "$39.99" in overdue_row
    assert "overdue" not in next(row for row in rows_of(page) if second.number in row)
    for link in ("One Time", "View invoices", "View payments", "Paid invoices", "Receipts", "Autopay: <strong>off"):
        assert link in page, link
    # The top menu names the Billing Center on every page.
    dashboard = await (await portal.get("/dashboard")).text()
    assert '<a href="/billing"' in dashboard and "Billing Center" in dashboard


async def test_invoices_list_marks_each_status_and_overdue_and_the_detail_shows_lines_payments_and_balance(
    portal: Portal, db: asyncpg.Pool, customers: tuple[Customer, Customer]
) -> None:
    alpha, _ = customers
    card = await add_card(db, alpha)
    paid = await issue(db, alpha, "20.00", due_in_days=-40)
    partly = await issue(db, alpha, "30.00", due_in_days=-10)
    open_ = await issue(db, alpha, "40.00", due_in_days=10)
    voided = await issue(db, alpha, "50.00", due_in_days=10)
    await paid_directly(db, alpha, card.id, "20.00", [paid.id], "history-key-paid-0001")
    payment_id = await paid_directly(db, alpha, card.id, "12.34", [partly.id], "history-key-part-0001")
    async with db.acquire() as connection:
        await void_invoice(connection, CustomerScope(alpha.customer_id, None), voided.id, reason="billed twice")

    await portal.login(alpha.owner_email)
    page = await (await portal.get("/billing/invoices")).text()
    rows = {
        invoice.number: next(r for r in rows_of(page) if invoice.number in r)
        for invoice in (paid, partly, open_, voided)
    }
    assert "paid" in rows[paid.number] and "overdue" not in rows[paid.number]
    assert (
        "partially paid" in rows[partly.number] and "overdue" in rows[partly.number] and "$17.66" in rows[partly.number]
    )
    assert "open" in rows[open_.number] and "overdue" not in rows[open_.number]
    assert "void" in rows[voided.number] and "overdue" not in rows[voided.number]
    assert f'href="/billing/invoices/{partly.id}.pdf"' in page

    detail = await (await portal.get(f"/billing/invoices/{partly.id}")).text()
    assert "Monitoring" in detail and "$30.00" in detail  # the line and the total
    assert f'href="/billing/payments/{payment_id}"' in detail and "$12.34" in detail  # the payment applied
    assert "$17.66" in detail  # the balance
    assert f'href="/billing/pay?invoice_ids={partly.id}"' in detail and "Pay this invoice" in detail
    assert f'href="/billing/invoices/{partly.id}.pdf"' in detail
    void_page = await (await portal.get(f"/billing/invoices/{voided.id}")).text()
    assert "billed twice" in void_page and "Pay this invoice" not in void_page


async def test_an_invoice_pdf_is_a_download_that_reads_back_as_the_invoice(
    portal: Portal, db: asyncpg.Pool, customers: tuple[Customer, Customer]
) -> None:
    alpha, _ = customers
    invoice = await issue(db, alpha, "1234.56")
    await portal.login(alpha.owner_email)
    response = await portal.client.get(f"/billing/invoices/{invoice.id}.pdf")
    assert response.status == 200
    assert response.headers["Content-Type"] == "application/pdf"
    assert response.headers["Content-Disposition"] == f'attachment; filename="{invoice.number}.pdf"'
    body = await response.read()
    assert body.startswith(b"%PDF")
    text = "".join(page.extract_text() for page in PdfReader(io.BytesIO(body)).pages)
    assert invoice.number in text and "1,234.56" in text and "Customer alpha" in text


async def test_payments_paid_invoices_and_receipts_with_the_receipt_pdf(
    portal: Portal, db: asyncpg.Pool, customers: tuple[Customer, Customer]
) -> None:
    alpha, _ = customers
    card = await add_card(db, alpha)
    declined = await add_card(db, alpha, VISA_DECLINED, make_default=False)
    first = await issue(db, alpha, "25.00", due_in_days=-5)
    second = await issue(db, alpha, "30.00")
    good = await paid_directly(db, alpha, card.id, "40.00", [first.id, second.id], "history-key-good-0001")
    bad = await paid_directly(db, alpha, declined.id, "15.00", [second.id], "history-key-bad-00001")
    await portal.login(alpha.owner_email)

    payments = await (await portal.get("/billing/payments")).text()
    numbers = await db.fetch("SELECT id, number FROM payments ORDER BY id")
    good_row = next(r for r in rows_of(payments) if numbers[0]["number"] in r)
    bad_row = next(r for r in rows_of(payments) if numbers[1]["number"] in r)
    assert "succeeded" in good_row and "$40.00" in good_row and "Visa ending in 4242" in good_row
    assert "declined" in bad_row and "$15.00" in bad_row and "declined" in bad_row.lower()
    assert rows_of(payments).index(bad_row) < rows_of(payments).index(good_row)  # newest first

    paid_page = await (await portal.get("/billing/paid")).text()
    assert first.number in paid_page and second.number not in paid_page  # second is only partly paid (15 of 30)

    receipts = await (await portal.get("/billing/receipts")).text()
    assert numbers[0]["number"] in receipts and numbers[1]["number"] not in receipts  # one per succeeded payment
    receipt_row = next(r for r in rows_of(receipts) if numbers[0]["number"] in r)
    assert f"{first.number}: $25.00" in receipt_row and f"{second.number}: $15.00" in receipt_row
    assert f'href="/billing/payments/{good}/receipt.pdf"' in receipts

    response = await portal.client.get(f"/billing/payments/{good}/receipt.pdf")
    assert response.status == 200 and response.headers["Content-Type"] == "application/pdf"
    assert response.headers["Content-Disposition"].startswith("attachment;")
    text = "".join(p.extract_text() for p in PdfReader(io.BytesIO(await response.read())).pages)
    assert numbers[0]["number"] in text and "40.00" in text and first.number in text
    # A declined payment took no money: it has no receipt.
    assert (await portal.get(f"/billing/payments/{bad}/receipt.pdf")).status == 404


async def test_every_billing_id_route_is_not_found_for_another_customers_ids(
    portal: Portal, db: asyncpg.Pool, customers: tuple[Customer, Customer]
) -> None:
    alpha, beta = customers
    card = await add_card(db, alpha)
    invoice = await issue(db, alpha, "10.00")
    payment = await paid_directly(db, alpha, card.id, "10.00", [invoice.id], "history-key-scope-001")
    await portal.login(beta.owner_email)
    for path in (
        f"/billing/invoices/{invoice.id}",
        f"/billing/invoices/{invoice.id}.pdf",
        f"/billing/payments/{payment}",
        f"/billing/payments/{payment}/receipt.pdf",
    ):
        response = await portal.get(path)
        assert response.status == 404, path
        assert invoice.number not in await response.text()
    # Alpha's invoice ticked on beta's pay page is simply not there.
    page = await (await portal.get(f"/billing/pay?invoice_ids={invoice.id}")).text()
    assert invoice.number not in page


async def test_the_dashboard_has_the_quick_option_the_billing_card_and_the_billing_tabs_first(
    portal: Portal, db: asyncpg.Pool, customers: tuple[Customer, Customer]
) -> None:
    alpha, _ = customers
    card = await add_card(db, alpha)
    paid = await issue(db, alpha, "19.00", due_in_days=-20)
    due = await issue(db, alpha, "21.00")
    payment = await paid_directly(db, alpha, card.id, "25.00", [paid.id], "history-key-dash-0001")
    await portal.login(alpha.owner_email)
    page = await (await portal.get("/dashboard")).text()
    assert '<a class="button" href="/billing">Make a payment &amp; view invoices</a>' in page
    summary = page[page.index('id="billing-summary-title"') :]
    # 19.00 paid by a payment of 25.00 for that invoice alone: 6.00 credit, kept for the next invoice issued.
    assert "Balance due" in summary and "$21.00" in summary and "Credit" in summary and "$6.00" in summary
    tabs = re.findall(r'href="/dashboard\?tab=([^"]+)"', page)
    assert tabs[:3] == ["invoices-due", "paid-invoices", "receipts"]
    assert f'name="invoice_ids" value="{due.id}"' in page  # the first tab, invoices due, is open
    paid_tab = await (await portal.get("/dashboard?tab=paid-invoices")).text()
    assert paid.number in paid_tab and f"/billing/invoices/{paid.id}.pdf" in paid_tab
    receipts_tab = await (await portal.get("/dashboard?tab=receipts")).text()
    assert f"/billing/payments/{payment}/receipt.pdf" in receipts_tab


async def test_amounts_show_in_the_configured_currency(
    tmp_path,
    database_url: str,
    db: asyncpg.Pool,
    customers: tuple[Customer, Customer],  # type: ignore[no-untyped-def]
) -> None:
    from aiohttp.test_utils import TestClient, TestServer

    from portal.app import create_app

    alpha, _ = customers
    await issue(db, alpha, "1500.00")
    app = create_app(portal_config(tmp_path, billing__currency="EUR"), database_url)
    async with TestClient(TestServer(app)) as client:
        euro = Portal(client)
        await euro.login(alpha.owner_email)
        assert "€1,500.00" in await (await euro.get("/billing")).text()
