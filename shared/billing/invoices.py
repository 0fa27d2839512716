"""Invoices: issuing one (with its lines and the customer's credit applied), voiding one, and the scoped queries."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Literal

import asyncpg

from shared.billing.ledger import apply_credit, lock_customer, take_back_for_void
from shared.billing.money import InvoiceStatus, invoice_status, is_cents
from shared.db import Connection
from shared.errors import Conflict, DomainError, NotFound
from shared.scope import CustomerScope

# numeric(12,2): the largest total a row can hold.
MAX_TOTAL = Decimal("9999999999.99")


@dataclass(frozen=True)
class IssuedInvoice:
    id: int
    number: str
    total: Decimal


@dataclass(frozen=True)
class InvoiceRow:
    id: int
    number: str
    issued_on: date
    due_on: date
    total: Decimal
    applied: Decimal
    balance: Decimal  # 0 for a void invoice: it owes nothing
    status: InvoiceStatus
    period: date | None
    description: str
    voided_at: datetime | None


@dataclass(frozen=True)
class InvoiceLine:
    position: int
    description: str
    amount: Decimal


@dataclass(frozen=True)
class Application:
    """Money applied to an invoice (positive) or taken back from it (a refund or the invoice voided: negative)."""

    payment_id: int
    payment_number: str
    applied_at: datetime
    amount: Decimal
    reason: str  # 'payment', 'credit', 'refund', 'void'


@dataclass(frozen=True)
class InvoiceDetail:
    invoice: InvoiceRow
    lines: tuple[InvoiceLine, ...]
    applications: tuple[Application, ...]
    void_reason: str


def _check_lines(lines: Sequence[tuple[str, Decimal]]) -> tuple[list[str], list[Decimal]]:
    if not lines:
        raise DomainError("An invoice needs at least one line.", field="lines")
    descriptions: list[str] = []
    amounts: list[Decimal] = []
    for description, amount in lines:
        if not description.strip():
            raise DomainError("Every invoice line needs a description.", field="lines")
        if not is_cents(amount) or amount <= 0:
            raise DomainError("Every invoice line needs an amount greater than zero, in cents.", field="lines")
        descriptions.append(description.strip())
        amounts.append(amount)
    if sum(amounts) > MAX_TOTAL:
        raise DomainError("The invoice's total is too large.", field="lines")
    return descriptions, amounts


async def create_invoice(
    connection: Connection,
    *,
    customer_id: int,
    lines: Sequence[tuple[str, Decimal]],
    due_on: date,
    issued_on: date | None = None,
    description: str = "",
    period: date | None = None,
    created_by: int | None = None,
) -> IssuedInvoice:
    """Issue an invoice numbered INV-<next of the sequence> with its lines, and apply the customer's credit to it.

    Runs in a transaction of its own (a savepoint inside the caller's). Conflict when the customer already has an
    invoice for `period` (the billing cycle's month).
    """
    descriptions, amounts = _check_lines(lines)
    issued = issued_on or datetime.now(UTC).date()
    if due_on < issued:
        raise DomainError("The due date cannot be before the issue date.", field="due_on")
    if period is not None and period.day != 1:
        raise DomainError("A billing period is a month, given by its first day.", field="period")
    try:
        async with connection.transaction():
            await lock_customer(connection, customer_id)
            row = await connection.fetchrow(
                """INSERT INTO invoices (customer_id, number, period, issued_on, due_on, total, description, created_by)
                   VALUES ($1, 'INV-' || nextval('invoice_numbers'), $2, $3, $4, $5, $6, $7)
                   RETURNING id, number, total""",
                customer_id,
                period,
                issued,
                due_on,
                sum(amounts),
                description.strip(),
                created_by,
            )
            assert row is not None
            await connection.execute(
                """INSERT INTO invoice_lines (invoice_id, position, description, amount)
                   SELECT $1, position, description, amount
                     FROM unnest($2::text[], $3::numeric[]) WITH ORDINALITY AS l(description, amount, position)""",
                row["id"],
                descriptions,
                amounts,
            )
            await apply_credit(connection, customer_id)
    except asyncpg.UniqueViolationError as error:
        if error.constraint_name == "invoices_customer_id_period_key":
            raise Conflict(f"The customer already has an invoice for {period:%B %Y}.", field="period") from error
        raise
    return IssuedInvoice(row["id"], row["number"], row["total"])


async def void_invoice(connection: Connection, scope: CustomerScope, invoice_id: int, *, reason: str) -> None:
    """Void an invoice: the money applied to it goes back to its payments as credit, which is then applied to the
    customer's other open invoices. Conflict when it is void already."""
    if not reason.strip():
        raise DomainError("Say why the invoice is voided.", field="reason")
    async with connection.transaction():
        await lock_customer(connection, scope.customer_id)
        voided = await connection.fetchrow(
            "SELECT voided_at FROM invoices WHERE id = $1 AND customer_id = $2", invoice_id, scope.customer_id
        )
        if voided is None:
            raise NotFound("No such invoice.")
        if voided["voided_at"] is not None:
            raise Conflict("The invoice is void already.")
        await take_back_for_void(connection, invoice_id)
        await connection.execute(
            "UPDATE invoices SET voided_at = now(), void_reason = $2 WHERE id = $1", invoice_id, reason.strip()
        )
        await apply_credit(connection, scope.customer_id)


async def customer_of_account(connection: Connection, account: str) -> int:
    """The customer whose premises has the panel with this monitoring account number; NotFound otherwise."""
    customer_id: int | None = await connection.fetchval(
        "SELECT s.customer_id FROM panels p JOIN sites s ON s.id = p.site_id WHERE p.account = $1",
        account.strip().upper(),
    )
    if customer_id is None:
        raise NotFound("No such account.")
    return customer_id


def normalise_invoice_number(text: str) -> str:
    """What a person types for an invoice number ("inv-10001", " 10001 ") as it is stored ("INV-10001")."""
    cleaned = text.strip().upper()
    return f"INV-{cleaned}" if cleaned.isascii() and cleaned.isdigit() else cleaned


async def invoice_number_belongs(connection: Connection, customer_id: int, number: str) -> bool:
    """True when the customer has an invoice (not void) with that number: proof of ownership at registration (C1)."""
    found = await connection.fetchval(
        "SELECT 1 FROM invoices WHERE customer_id = $1 AND number = $2 AND voided_at IS NULL",
        customer_id,
        normalise_invoice_number(number),
    )
    return found is not None


_ROWS = """
    SELECT i.id, i.number, i.issued_on, i.due_on, i.total, coalesce(a.applied, 0) AS applied,
           i.period, i.description, i.voided_at, i.void_reason
      FROM invoices i
      LEFT JOIN LATERAL (SELECT sum(amount) AS applied FROM allocations WHERE invoice_id = i.id) a ON true
     WHERE i.customer_id = $1
"""
_WHICH = {
    "due": "AND i.voided_at IS NULL AND i.total > coalesce(a.applied, 0) ORDER BY i.due_on, i.id",
    "paid": "AND i.voided_at IS NULL AND i.total <= coalesce(a.applied, 0) ORDER BY i.issued_on DESC, i.id DESC",
    "all": "ORDER BY i.issued_on DESC, i.id DESC",
}


def _row(record: asyncpg.Record) -> InvoiceRow:
    voided = record["voided_at"] is not None
    total: Decimal = record["total"]
    applied: Decimal = Decimal(record["applied"]).quantize(Decimal("0.01"))
    return InvoiceRow(
        id=record["id"],
        number=record["number"],
        issued_on=record["issued_on"],
        due_on=record["due_on"],
        total=total,
        applied=applied,
        balance=Decimal("0.00") if voided else total - applied,
        status=invoice_status(total, applied, voided),
        period=record["period"],
        description=record["description"],
        voided_at=record["voided_at"],
    )


async def list_invoices(
    connection: Connection, scope: CustomerScope, *, which: Literal["due", "paid", "all"], limit: int = 100
) -> list[InvoiceRow]:
    """due: owing, oldest due first; paid: fully paid, newest first; all: every invoice (void too), newest first."""
    rows = await connection.fetch(f"{_ROWS} {_WHICH[which]} LIMIT $2", scope.customer_id, limit)
    return [_row(row) for row in rows]


async def invoice_detail(connection: Connection, scope: CustomerScope, invoice_id: int) -> InvoiceDetail:
    """One of the scope's invoices with its lines and the money applied to it; NotFound for any other id."""
    record = await connection.fetchrow(f"{_ROWS} AND i.id = $2", scope.customer_id, invoice_id)
    if record is None:
        raise NotFound("No such invoice.")
    lines = await connection.fetch(
        "SELECT position, description, amount FROM invoice_lines WHERE invoice_id = $1 ORDER BY position", invoice_id
    )
    applications = await connection.fetch(
        """SELECT a.payment_id, p.number, a.created_at, a.amount, a.reason
             FROM allocations a JOIN payments p ON p.id = a.payment_id
            WHERE a.invoice_id = $1 ORDER BY a.id""",
        invoice_id,
    )
    return InvoiceDetail(
        invoice=_row(record),
        lines=tuple(InvoiceLine(r["position"], r["description"], r["amount"]) for r in lines),
        applications=tuple(
            Application(r["payment_id"], r["number"], r["created_at"], r["amount"], r["reason"]) for r in applications
        ),
        void_reason=record["void_reason"],
    )
