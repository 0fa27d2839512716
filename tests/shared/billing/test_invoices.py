"""shared.billing.invoices on real PostgreSQL: issuing, voiding, numbers, and the scoped queries."""

from __future__ import annotations

import asyncio
from datetime import date
from decimal import Decimal

import asyncpg
import pytest

from shared.billing.invoices import (
    create_invoice,
    customer_of_account,
    invoice_detail,
    invoice_number_belongs,
    list_invoices,
    normalise_invoice_number,
    void_invoice,
)
from shared.billing.ledger import credit_available, ledger_problems
from shared.billing.money import InvoiceStatus
from shared.errors import Conflict, DomainError, NotFound
from shared.scope import CustomerScope
from tests.shared.billing.ledger_setup import (
    invoice,
    method_row,
    new_customer,
    settled_payment,
)

D = Decimal
DEC_1 = date(2026, 12, 1)


async def test_create_invoice_numbers_lines_and_total(db: asyncpg.Pool) -> None:
    async with db.acquire() as connection:
        customer = await new_customer(connection)
        first = await create_invoice(
            connection,
            customer_id=customer,
            lines=[("Monthly monitoring", D("29.99")), ("  Service call  ", D("75.00"))],
            issued_on=DEC_1,
            due_on=date(2026, 12, 16),
            description="December",
        )
        second = await create_invoice(
            connection, customer_id=customer, lines=[("Key fob", D("12.50"))], issued_on=DEC_1, due_on=DEC_1
        )
        assert first.number == "INV-10001" and second.number == "INV-10002"
        assert first.total == D("104.99")
        detail = await invoice_detail(connection, CustomerScope(customer, None), first.id)
        assert [(line.position, line.description, line.amount) for line in detail.lines] == [
            (1, "Monthly monitoring", D("29.99")),
            (2, "Service call", D("75.00")),
        ]
        row = detail.invoice
        assert (row.total, row.applied, row.balance, row.status) == (D("104.99"), 0, D("104.99"), InvoiceStatus.OPEN)
        assert (row.issued_on, row.due_on, row.description, row.period) == (DEC_1, date(2026, 12, 16), "December", None)
        assert detail.applications == ()


async def test_a_rolled_back_invoice_number_is_never_reused(db: asyncpg.Pool) -> None:
    async with db.acquire() as connection:
        customer = await new_customer(connection)
        with pytest.raises(RuntimeError):
            async with connection.transaction():
                await invoice(connection, customer, "10.00")
                raise RuntimeError("the caller's transaction fails")
        issued = await create_invoice(
            connection, customer_id=customer, lines=[("Fee", D("1.00"))], due_on=DEC_1, issued_on=DEC_1
        )
        assert issued.number == "INV-10002"


@pytest.mark.parametrize(
    ("lines", "field"),
    [
        ([], "lines"),
        ([("   ", D("1.00"))], "lines"),
        ([("Fee", D("0.00"))], "lines"),
        ([("Fee", D("-1.00"))], "lines"),
        ([("Fee", D("1.005"))], "lines"),
        ([("Fee", D("9999999999.99")), ("More", D("0.01"))], "lines"),
    ],
)
async def test_create_invoice_refuses_bad_lines(db: asyncpg.Pool, lines: list[tuple[str, Decimal]], field: str) -> None:
    async with db.acquire() as connection:
        customer = await new_customer(connection)
        with pytest.raises(DomainError) as caught:
            await create_invoice(connection, customer_id=customer, lines=lines, due_on=DEC_1, issued_on=DEC_1)
        assert caught.value.field == field
        assert await connection.fetchval("SELECT count(*) FROM invoices") == 0


async def test_create_invoice_refuses_bad_dates_and_unknown_customers(db: asyncpg.Pool) -> None:
    async with db.acquire() as connection:
        customer = await new_customer(connection)
        lines = [("Fee", D("1.00"))]
        with pytest.raises(DomainError) as caught:
            await create_invoice(
                connection, customer_id=customer, lines=lines, due_on=date(2026, 11, 30), issued_on=DEC_1
            )
        assert caught.value.field == "due_on"
        with pytest.raises(DomainError) as caught:
            await create_invoice(
                connection, customer_id=customer, lines=lines, due_on=DEC_1, issued_on=DEC_1, period=date(2026, 12, 2)
            )
        assert caught.value.field == "period"
        with pytest.raises(NotFound):
            await create_invoice(connection, customer_id=customer + 100, lines=lines, due_on=DEC_1, issued_on=DEC_1)


async def test_one_invoice_per_period_even_when_two_are_issued_at_once(db: asyncpg.Pool) -> None:
    async with db.acquire() as connection:
        customer = await new_customer(connection)

    async def issue() -> str:
        async with db.acquire() as connection:
            try:
                issued = await create_invoice(
                    connection,
                    customer_id=customer,
                    lines=[("Fee", D("30.00"))],
                    due_on=date(2026, 12, 15),
                    issued_on=DEC_1,
                    period=DEC_1,
                )
            except Conflict as error:
                assert error.field == "period"
                return "conflict"
            return issued.number

    results = await asyncio.gather(issue(), issue(), issue())
    assert sorted(results) == ["INV-10001", "conflict", "conflict"]
    async with db.acquire() as connection:
        assert await connection.fetchval("SELECT count(*) FROM invoices") == 1
        assert await connection.fetchval("SELECT count(*) FROM invoice_lines") == 1
        # Another month, or an invoice with no period, is a different invoice.
        await invoice(connection, customer, "5.00", period=date(2027, 1, 1))
        await invoice(connection, customer, "5.00")
        await invoice(connection, customer, "5.00")


async def test_a_new_invoice_takes_the_customers_credit(db: asyncpg.Pool) -> None:
    async with db.acquire() as connection:
        customer = await new_customer(connection)
        card = await method_row(connection, customer)
        await settled_payment(connection, customer, card, "50.00")
        first = await invoice(connection, customer, "30.00")
        second = await invoice(connection, customer, "30.00")
        scope = CustomerScope(customer, None)
        paid = await invoice_detail(connection, scope, first)
        assert paid.invoice.status is InvoiceStatus.PAID and paid.invoice.balance == 0
        assert [(a.amount, a.reason) for a in paid.applications] == [(D("30.00"), "credit")]
        part = (await invoice_detail(connection, scope, second)).invoice
        assert (part.status, part.applied, part.balance) == (InvoiceStatus.PARTIALLY_PAID, D("20.00"), D("10.00"))
        assert await credit_available(connection, customer) == 0


async def test_list_invoices_due_paid_and_all(db: asyncpg.Pool) -> None:
    async with db.acquire() as connection:
        customer = await new_customer(connection)
        other = await new_customer(connection, "Beta")
        card = await method_row(connection, customer)
        late = await invoice(connection, customer, "10.00", due=date(2026, 12, 30))
        early = await invoice(connection, customer, "10.00", due=date(2026, 12, 2))
        paid = await invoice(connection, customer, "10.00", due=date(2026, 12, 10))
        void = await invoice(connection, customer, "10.00", due=date(2026, 12, 1))
        await invoice(connection, other, "10.00")
        await settled_payment(connection, customer, card, "10.00", [(paid, D("10.00"))])
        scope = CustomerScope(customer, None)
        await void_invoice(connection, scope, void, reason="duplicate")

        due = await list_invoices(connection, scope, which="due")
        assert [row.id for row in due] == [early, late]
        assert [row.id for row in await list_invoices(connection, scope, which="paid")] == [paid]
        everything = await list_invoices(connection, scope, which="all")
        assert [row.id for row in everything] == [void, paid, early, late]  # newest first (same day: higher id)
        shown = {row.id: row for row in everything}
        assert shown[void].status is InvoiceStatus.VOID and shown[void].balance == 0 and shown[void].voided_at
        assert [row.id for row in await list_invoices(connection, scope, which="all", limit=2)] == [void, paid]


async def test_another_customers_invoice_is_not_found(db: asyncpg.Pool) -> None:
    async with db.acquire() as connection:
        customer = await new_customer(connection)
        other = await new_customer(connection, "Beta")
        theirs = await invoice(connection, other, "10.00")
        with pytest.raises(NotFound):
            await invoice_detail(connection, CustomerScope(customer, None), theirs)
        with pytest.raises(NotFound):
            await void_invoice(connection, CustomerScope(customer, None), theirs, reason="not mine")
        assert (await invoice_detail(connection, CustomerScope(other, None), theirs)).invoice.voided_at is None


async def test_void_rules(db: asyncpg.Pool) -> None:
    async with db.acquire() as connection:
        customer = await new_customer(connection)
        scope = CustomerScope(customer, None)
        bill = await invoice(connection, customer, "10.00")
        with pytest.raises(DomainError) as caught:
            await void_invoice(connection, scope, bill, reason="  ")
        assert caught.value.field == "reason"
        await void_invoice(connection, scope, bill, reason=" entered twice ")
        with pytest.raises(Conflict):
            await void_invoice(connection, scope, bill, reason="again")
        detail = await invoice_detail(connection, scope, bill)
        assert detail.void_reason == "entered twice"
        assert detail.invoice.status is InvoiceStatus.VOID
        assert await ledger_problems(connection) == []


async def test_void_of_a_paid_invoice_shows_both_applications(db: asyncpg.Pool) -> None:
    async with db.acquire() as connection:
        customer = await new_customer(connection)
        card = await method_row(connection, customer)
        scope = CustomerScope(customer, None)
        bill = await invoice(connection, customer, "10.00")
        payment = await settled_payment(connection, customer, card, "10.00", [(bill, D("10.00"))])
        await void_invoice(connection, scope, bill, reason="wrong customer")
        detail = await invoice_detail(connection, scope, bill)
        number = await connection.fetchval("SELECT number FROM payments WHERE id = $1", payment)
        assert [(a.payment_number, a.amount, a.reason) for a in detail.applications] == [
            (number, D("10.00"), "payment"),
            (number, D("-10.00"), "void"),
        ]
        assert await credit_available(connection, customer) == D("10.00")


async def test_customer_of_account(db: asyncpg.Pool) -> None:
    async with db.acquire() as connection:
        customer = await new_customer(connection)
        site = await connection.fetchval("INSERT INTO sites (customer_id) VALUES ($1) RETURNING id", customer)
        await connection.execute("INSERT INTO panels (site_id, account) VALUES ($1, 'A1B2')", site)
        assert await customer_of_account(connection, " a1b2 ") == customer
        with pytest.raises(NotFound):
            await customer_of_account(connection, "FFFF")


async def test_invoice_number_belongs(db: asyncpg.Pool) -> None:
    async with db.acquire() as connection:
        customer = await new_customer(connection)
        other = await new_customer(connection, "Beta")
        bill = await invoice(connection, customer, "10.00")
        number = await connection.fetchval("SELECT number FROM invoices WHERE id = $1", bill)
        assert number == "INV-10001"
        for typed in ("INV-10001", "inv-10001", " 10001 "):
            assert await invoice_number_belongs(connection, customer, typed)
        assert not await invoice_number_belongs(connection, other, "INV-10001")
        assert not await invoice_number_belongs(connection, customer, "INV-10002")
        await void_invoice(connection, CustomerScope(customer, None), bill, reason="void")
        assert not await invoice_number_belongs(connection, customer, "INV-10001")


def test_normalise_invoice_number() -> None:
    assert normalise_invoice_number(" inv-123 ") == "INV-123"
    assert normalise_invoice_number("123") == "INV-123"
    assert normalise_invoice_number("١٢٣") == "١٢٣"  # not ASCII digits: left as typed, matches nothing
