"""Invoice and receipt documents read from a real ledger on PostgreSQL: what they hold, scoped to one customer."""

from __future__ import annotations

import secrets
from datetime import UTC, date, datetime
from decimal import Decimal

import asyncpg
import pytest
from argon2 import PasswordHasher

import shared.passwords
from shared.billing.documents import (
    AppliedMoney,
    DocumentLine,
    ReceiptLine,
    invoice_document,
    method_label,
    receipt_document,
)
from shared.billing.invoices import void_invoice
from shared.billing.money import InvoiceStatus
from shared.db import Connection
from shared.errors import NotFound
from shared.scope import CustomerScope
from tests.portal.conftest import Customer, enrol
from tests.shared.billing.ledger_setup import (
    invoice,
    method_row,
    settled_payment,
    settled_refund,
)

D = Decimal


@pytest.fixture(autouse=True)
def cheap_password_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    """enrol() sets the owner's password: Argon2id at test cost, as the portal tests do."""
    monkeypatch.setattr(shared.passwords, "_HASHER", PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))


def scope_of(customer: Customer) -> CustomerScope:
    return CustomerScope(customer.customer_id, customer.owner_id)


async def payment_row(
    connection: Connection,
    customer_id: int,
    method_id: int,
    amount: str,
    *,
    status: str = "succeeded",
    settled_at: datetime | None = None,
    failure_message: str = "",
) -> int:
    """A payment written as plain SQL, in any state (the ledger's own path only makes succeeded ones)."""
    payment_id: int = await connection.fetchval(
        """INSERT INTO payments (customer_id, number, method_id, amount, source, idempotency_key)
           VALUES ($1, 'PAY-' || nextval('payment_numbers'), $2, $3, 'portal', $4) RETURNING id""",
        customer_id,
        method_id,
        D(amount),
        f"documents-test-{secrets.token_hex(8)}",
    )
    if status != "pending":
        await connection.execute(
            "UPDATE payments SET status = $2, gateway_charge_id = CASE WHEN $2 = 'succeeded' THEN 'ch_' || id END, "
            "failure_code = CASE WHEN $2 = 'succeeded' THEN '' ELSE 'card_declined' END, failure_message = $4, "
            "settled_at = coalesce($3::timestamptz, now()) WHERE id = $1",
            payment_id,
            status,
            settled_at,
            failure_message,
        )
    return payment_id


async def test_an_invoice_document_holds_the_customer_lines_payments_and_balance(db: asyncpg.Pool) -> None:
    async with db.acquire() as connection:
        alpha = await enrol(connection, "alpha", "A1A1")
        method = await method_row(connection, alpha.customer_id)
        invoice_id = await invoice(connection, alpha.customer_id, "30.00", "15.50", period=date(2026, 12, 1))
        await settled_payment(connection, alpha.customer_id, method, "20.00", [(invoice_id, D("20.00"))])
        document = await invoice_document(connection, scope_of(alpha), invoice_id)
        number = await connection.fetchval("SELECT number FROM invoices WHERE id = $1", invoice_id)
        payment_number = await connection.fetchval(
            "SELECT number FROM payments WHERE customer_id = $1", alpha.customer_id
        )

    assert document.number == number and number.startswith("INV-")
    assert (document.customer_name, document.billing_address, document.accounts) == (
        "Customer alpha",
        "alpha Street 1",
        ("A1A1",),
    )
    assert (document.issued_on, document.due_on, document.period) == (
        date(2026, 12, 1),
        date(2026, 12, 20),
        date(2026, 12, 1),
    )
    assert document.lines == (DocumentLine("Line 1", D("30.00")), DocumentLine("Line 2", D("15.50")))
    assert document.total == D("45.50")
    assert [(a.payment_number, a.amount, a.reason) for a in document.applied] == [
        (payment_number, D("20.00"), "payment")
    ]
    assert (document.paid, document.balance, document.status) == (D("20.00"), D("25.50"), InvoiceStatus.PARTIALLY_PAID)
    assert document.void_reason == ""


async def test_another_customers_invoice_or_receipt_is_not_found(db: asyncpg.Pool) -> None:
    async with db.acquire() as connection:
        alpha = await enrol(connection, "alpha", "A1A1")
        beta = await enrol(connection, "beta", "B2B2")
        method = await method_row(connection, beta.customer_id)
        invoice_id = await invoice(connection, beta.customer_id, "10.00")
        payment_id = await settled_payment(connection, beta.customer_id, method, "10.00", [(invoice_id, D("10.00"))])
        await invoice_document(connection, scope_of(beta), invoice_id)  # beta sees its own
        await receipt_document(connection, scope_of(beta), payment_id)
        for load, item in ((invoice_document, invoice_id), (receipt_document, payment_id)):
            with pytest.raises(NotFound):
                await load(connection, scope_of(alpha), item)
            with pytest.raises(NotFound):
                await load(connection, scope_of(beta), item + 1000)


async def test_a_void_invoice_owes_nothing_and_says_why(db: asyncpg.Pool) -> None:
    async with db.acquire() as connection:
        alpha = await enrol(connection, "alpha", "A1A1")
        method = await method_row(connection, alpha.customer_id)
        invoice_id = await invoice(connection, alpha.customer_id, "40.00")
        await settled_payment(connection, alpha.customer_id, method, "15.00", [(invoice_id, D("15.00"))])
        async with connection.transaction():
            await void_invoice(connection, scope_of(alpha), invoice_id, reason="Billed twice")
        document = await invoice_document(connection, scope_of(alpha), invoice_id)
    assert (document.status, document.void_reason) == (InvoiceStatus.VOID, "Billed twice")
    assert [(a.amount, a.reason) for a in document.applied] == [(D("15.00"), "payment"), (D("-15.00"), "void")]
    assert (document.paid, document.balance) == (D("0.00"), D("0.00"))


async def test_a_receipt_says_where_the_money_went_what_was_refunded_and_what_is_credit(db: asyncpg.Pool) -> None:
    async with db.acquire() as connection:
        alpha = await enrol(connection, "alpha", "A1A1")
        method = await method_row(connection, alpha.customer_id)
        first = await invoice(connection, alpha.customer_id, "30.00", due=date(2026, 12, 10))
        second = await invoice(connection, alpha.customer_id, "15.00", due=date(2026, 12, 20))
        numbers = dict(
            await connection.fetch("SELECT id, number FROM invoices WHERE customer_id = $1", alpha.customer_id)
        )
        payment_id = await settled_payment(
            connection, alpha.customer_id, method, "50.00", [(first, D("30.00")), (second, D("15.00"))]
        )
        scope = scope_of(alpha)
        receipt = await receipt_document(connection, scope, payment_id)
        assert receipt.applied == (ReceiptLine(numbers[first], D("30.00")), ReceiptLine(numbers[second], D("15.00")))
        assert (receipt.amount, receipt.refunded, receipt.credit) == (D("50.00"), D("0.00"), D("5.00"))
        assert receipt.method_label == "Visa ending in 1111" and receipt.sandbox and receipt.source == "staff"
        assert receipt.number == await connection.fetchval("SELECT number FROM payments WHERE id = $1", payment_id)
        assert (receipt.customer_name, receipt.billing_address) == ("Customer alpha", "alpha Street 1")

        # A refund of 8.00 takes the 5.00 credit first, then 3.00 back from the newest invoice it paid.
        await settled_refund(connection, alpha.customer_id, payment_id, "8.00")
        await connection.execute(
            "INSERT INTO refunds (payment_id, amount, idempotency_key) VALUES ($1, 1.00, 'pending-refund-key-01')",
            payment_id,
        )
        receipt = await receipt_document(connection, scope, payment_id)
        assert receipt.applied == (ReceiptLine(numbers[first], D("30.00")), ReceiptLine(numbers[second], D("12.00")))
        assert (receipt.refunded, receipt.credit, receipt.applied_total) == (D("8.00"), D("0.00"), D("42.00"))
        assert [(r.amount, r.status, r.refunded_on is None) for r in receipt.refunds] == [
            (D("8.00"), "succeeded", False),
            (D("1.00"), "pending", True),
        ]
        assert receipt.amount == receipt.applied_total + receipt.refunded + receipt.credit

        # The invoice shows the refund taken back from it, with the payment's number.
        document = await invoice_document(connection, scope, second)
        assert document.applied[-1] == AppliedMoney(
            receipt.number, document.applied[-1].applied_on, D("-3.00"), "refund"
        )
        assert (document.balance, document.status) == (D("3.00"), InvoiceStatus.PARTIALLY_PAID)


async def test_only_a_succeeded_payment_has_a_receipt(db: asyncpg.Pool) -> None:
    async with db.acquire() as connection:
        alpha = await enrol(connection, "alpha", "A1A1")
        method = await method_row(connection, alpha.customer_id)
        for status in ("pending", "declined", "failed"):
            payment_id = await payment_row(connection, alpha.customer_id, method, "10.00", status=status)
            with pytest.raises(NotFound):
                await receipt_document(connection, scope_of(alpha), payment_id)


async def test_dates_are_the_companys_calendar_days(db: asyncpg.Pool) -> None:
    async with db.acquire() as connection:
        alpha = await enrol(connection, "alpha", "A1A1")
        method = await method_row(connection, alpha.customer_id)
        payment_id = await payment_row(
            connection, alpha.customer_id, method, "10.00", settled_at=datetime(2026, 12, 5, 2, 30, tzinfo=UTC)
        )
        scope = scope_of(alpha)
        assert (await receipt_document(connection, scope, payment_id)).settled_on == date(2026, 12, 5)
        chicago = await receipt_document(connection, scope, payment_id, timezone="America/Chicago")
        assert chicago.settled_on == date(2026, 12, 4)
        assert chicago.credit == D("10.00") and chicago.applied == ()


async def test_a_bank_account_is_named_by_its_type_bank_and_last_four_digits() -> None:
    assert (
        method_label("bank_account", "Sandbox Bank", "6789", "checking")
        == "Checking account at Sandbox Bank ending in 6789"
    )
    assert method_label("card", "Mastercard", "4444", None) == "Mastercard ending in 4444"
