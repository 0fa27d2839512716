"""Invoice and receipt documents: what a printed invoice or receipt shows, read from the ledger for one customer."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from shared.billing.money import InvoiceStatus, invoice_status
from shared.db import Connection
from shared.errors import NotFound
from shared.scope import CustomerScope

ZERO = Decimal("0.00")


@dataclass(frozen=True, slots=True)
class DocumentLine:
    """One charge on an invoice."""

    description: str
    amount: Decimal


@dataclass(frozen=True, slots=True)
class AppliedMoney:
    """Money applied to (positive) or taken back from (negative: a refund, a void) an invoice by one payment."""

    payment_number: str
    applied_on: date
    amount: Decimal
    reason: str  # 'payment', 'credit', 'refund', 'void' (allocations.reason)


@dataclass(frozen=True, slots=True)
class InvoiceDocument:
    """A printable invoice. The company's side (name, address, remittance address) comes from the Branding the
    renderer is given, so one document prints the same for any process that has the configuration."""

    invoice_id: int
    number: str
    customer_name: str
    # The premises (the customer's first site): where the invoice is addressed.
    billing_address: str
    accounts: tuple[str, ...]  # the customer's monitoring account numbers: what registration (C1) asks for
    issued_on: date
    due_on: date
    period: date | None  # the month billed (first day); None for an invoice staff created by hand
    description: str
    lines: tuple[DocumentLine, ...]
    total: Decimal
    applied: tuple[AppliedMoney, ...]
    paid: Decimal  # the sum of `applied`
    balance: Decimal  # what is still owed: total - paid, nothing once void
    status: InvoiceStatus
    void_reason: str  # '' unless void


@dataclass(frozen=True, slots=True)
class ReceiptLine:
    """What a payment pays on one invoice now: applied minus taken back (a refund or a void moves it)."""

    invoice_number: str
    amount: Decimal


@dataclass(frozen=True, slots=True)
class ReceiptRefund:
    refunded_on: date | None  # None while the gateway has not answered
    amount: Decimal
    status: str  # 'pending' or 'succeeded' (failed refunds gave nothing back and are left out)


@dataclass(frozen=True, slots=True)
class ReceiptDocument:
    """A printable receipt for one succeeded payment."""

    payment_id: int
    number: str
    customer_name: str
    billing_address: str
    settled_on: date
    method_label: str  # "Visa ending in 4242": brand and last four digits, never more
    source: str  # 'portal', 'autopay' or 'staff'
    amount: Decimal
    applied: tuple[ReceiptLine, ...]
    refunds: tuple[ReceiptRefund, ...]
    refunded: Decimal  # refunds that succeeded
    credit: Decimal  # what of the payment is neither applied to an invoice nor refunded: the customer's credit
    sandbox: bool  # paid through the sandbox gateway: no real money moved

    @property
    def applied_total(self) -> Decimal:
        return sum((line.amount for line in self.applied), ZERO)


_CUSTOMER = """
    SELECT c.name,
           coalesce((SELECT s.address FROM sites s WHERE s.customer_id = c.id ORDER BY s.id LIMIT 1), '') AS address,
           coalesce(ARRAY(SELECT p.account FROM sites s JOIN panels p ON p.site_id = s.id
                           WHERE s.customer_id = c.id ORDER BY s.id, p.id), '{}') AS accounts
      FROM customers c WHERE c.id = $1
"""

_INVOICE = """
    SELECT id, number, issued_on, due_on, period, description, total, voided_at IS NOT NULL AS voided, void_reason
      FROM invoices WHERE id = $1 AND customer_id = $2
"""

_INVOICE_LINES = "SELECT description, amount FROM invoice_lines WHERE invoice_id = $1 ORDER BY position, id"

# The dates are the company's calendar days ($2: its time zone), not UTC's.
_INVOICE_APPLIED = """
    SELECT p.number, (a.created_at AT TIME ZONE $2)::date AS applied_on, a.amount, a.reason
      FROM allocations a JOIN payments p ON p.id = a.payment_id
     WHERE a.invoice_id = $1
     ORDER BY a.created_at, a.id
"""

_PAYMENT = """
    SELECT p.id, p.number, p.amount, p.source, p.status, (p.settled_at AT TIME ZONE $3)::date AS settled_on,
           m.kind, m.brand, m.last4, m.account_type, m.gateway
      FROM payments p JOIN payment_methods m ON m.id = p.method_id
     WHERE p.id = $1 AND p.customer_id = $2
"""

# Net per invoice, in the order the payment first reached each invoice; an invoice it no longer pays drops out.
_PAYMENT_APPLIED = """
    SELECT i.number, sum(a.amount) AS amount
      FROM allocations a JOIN invoices i ON i.id = a.invoice_id
     WHERE a.payment_id = $1
     GROUP BY i.id, i.number
    HAVING sum(a.amount) <> 0
     ORDER BY min(a.id)
"""

_PAYMENT_REFUNDS = """
    SELECT (settled_at AT TIME ZONE $2)::date AS refunded_on, amount, status
      FROM refunds WHERE payment_id = $1 AND status <> 'failed'
     ORDER BY created_at, id
"""


def method_label(kind: str, brand: str, last4: str, account_type: str | None) -> str:
    """How a receipt and a mail name what paid: brand and last four digits (the only digits ever stored)."""
    if kind == "bank_account":
        account = (account_type or "bank").capitalize()
        return f"{account} account at {brand} ending in {last4}"
    return f"{brand} ending in {last4}"


async def _customer(connection: Connection, customer_id: int) -> tuple[str, str, tuple[str, ...]]:
    row = await connection.fetchrow(_CUSTOMER, customer_id)
    if row is None:
        raise NotFound("no such customer")
    return row["name"], row["address"], tuple(row["accounts"])


async def invoice_document(
    connection: Connection, scope: CustomerScope, invoice_id: int, *, timezone: str = "UTC"
) -> InvoiceDocument:
    """The invoice `invoice_id` of the scope's customer, as printed; NotFound for any other customer's invoice.

    `timezone` (portal.timezone) is the calendar the dates of applied payments are read in.
    """
    row = await connection.fetchrow(_INVOICE, invoice_id, scope.customer_id)
    if row is None:
        raise NotFound("no such invoice")
    name, address, accounts = await _customer(connection, scope.customer_id)
    lines = tuple(
        DocumentLine(r["description"], r["amount"]) for r in await connection.fetch(_INVOICE_LINES, row["id"])
    )
    applied = tuple(
        AppliedMoney(r["number"], r["applied_on"], r["amount"], r["reason"])
        for r in await connection.fetch(_INVOICE_APPLIED, row["id"], timezone)
    )
    paid = sum((money.amount for money in applied), ZERO)
    total: Decimal = row["total"]
    voided: bool = row["voided"]
    return InvoiceDocument(
        invoice_id=row["id"],
        number=row["number"],
        customer_name=name,
        billing_address=address,
        accounts=accounts,
        issued_on=row["issued_on"],
        due_on=row["due_on"],
        period=row["period"],
        description=row["description"],
        lines=lines,
        total=total,
        applied=applied,
        paid=paid,
        balance=ZERO if voided else total - paid,
        status=invoice_status(total, paid, voided),
        void_reason=row["void_reason"],
    )


async def receipt_document(
    connection: Connection, scope: CustomerScope, payment_id: int, *, timezone: str = "UTC"
) -> ReceiptDocument:
    """The receipt of the scope's customer's payment `payment_id`; NotFound for another customer's payment and for
    one that did not succeed (a pending, declined or failed payment took no money: there is nothing to receipt)."""
    row = await connection.fetchrow(_PAYMENT, payment_id, scope.customer_id, timezone)
    if row is None or row["status"] != "succeeded":
        raise NotFound("no such receipt")
    name, address, _accounts = await _customer(connection, scope.customer_id)
    applied = tuple(ReceiptLine(r["number"], r["amount"]) for r in await connection.fetch(_PAYMENT_APPLIED, row["id"]))
    refunds = tuple(
        ReceiptRefund(r["refunded_on"], r["amount"], r["status"])
        for r in await connection.fetch(_PAYMENT_REFUNDS, row["id"], timezone)
    )
    refunded = sum((refund.amount for refund in refunds if refund.status == "succeeded"), ZERO)
    amount: Decimal = row["amount"]
    applied_total = sum((line.amount for line in applied), ZERO)
    return ReceiptDocument(
        payment_id=row["id"],
        number=row["number"],
        customer_name=name,
        billing_address=address,
        settled_on=row["settled_on"],
        method_label=method_label(row["kind"], row["brand"], row["last4"], row["account_type"]),
        source=row["source"],
        amount=amount,
        applied=applied,
        refunds=refunds,
        refunded=refunded,
        credit=amount - refunded - applied_total,
        sandbox=row["gateway"] == "sandbox",
    )
