"""Billing from the command line (SPEC §3): create-invoice prints the number alone; set-monthly-fee; the cycle."""

from __future__ import annotations

from decimal import Decimal

import asyncpg
import pytest

from shared.enrolment import create_customer
from tests.alarmhub.test_cli import alarmhub
from tests.shared.billing.ledger_setup import billing_secrets_scan  # noqa: F401 (the secrets scan, see there)


@pytest.fixture
async def customer_id(db: asyncpg.Pool) -> int:
    async with db.acquire() as connection:
        enrolled = await create_customer(
            connection, name="Ivy Invoice", email="ivy@example.com", password=None, account="B111", address="1 Road"
        )
    return enrolled.customer_id


async def test_create_invoice_prints_only_the_number(database_url: str, db: asyncpg.Pool, customer_id: int) -> None:
    made = alarmhub(
        database_url, "admin", "create-invoice", "--account", "b111", "--amount", "1,249.50", "--due", "2026-12-31"
    )
    assert made.returncode == 0, made.stderr
    number = made.stdout.strip()
    assert made.stdout == number + "\n" and number.startswith("INV-")  # alone, for NUMBER=$(alarmhub ...)
    assert f"customer_id={customer_id}" in made.stderr and "total=1249.50" in made.stderr
    invoice = await db.fetchrow("SELECT * FROM invoices WHERE number = $1", number)
    assert invoice["customer_id"] == customer_id and invoice["total"] == Decimal("1249.50")
    assert str(invoice["due_on"]) == "2026-12-31" and invoice["period"] is None
    lines = await db.fetch("SELECT description, amount FROM invoice_lines WHERE invoice_id = $1", invoice["id"])
    assert [tuple(line) for line in lines] == [("Monitoring services", Decimal("1249.50"))]

    described = alarmhub(
        database_url,
        *("admin", "create-invoice", "--account", "B111", "--amount", "80", "--due", "2027-01-15"),
        *("--description", "Two extra motion sensors"),
    )
    assert described.returncode == 0, described.stderr
    second = described.stdout.strip()
    assert second != number
    row = await db.fetchrow(
        "SELECT i.description, l.description AS line, l.amount FROM invoices i JOIN invoice_lines l "
        "ON l.invoice_id = i.id WHERE i.number = $1",
        second,
    )
    assert tuple(row) == ("Two extra motion sensors", "Two extra motion sensors", Decimal("80.00"))


@pytest.mark.parametrize(
    ("flag", "value", "says"),
    [
        ("--amount", "12.345", "--amount"),
        ("--amount", "abc", "--amount"),
        ("--amount", "-5", "--amount"),
        ("--amount", "0", "--amount"),
        ("--amount", "NaN", "--amount"),
        ("--due", "2026-13-01", "not a date written YYYY-MM-DD"),
        ("--due", "12/31/2026", "not a date written YYYY-MM-DD"),
        ("--due", "20261231", "not a date written YYYY-MM-DD"),
        ("--account", "FFFF", "no panel has the account number 'FFFF'"),
        ("--description", "two\nlines", "--description: use letters, digits and punctuation only, on one line"),
    ],
)
async def test_create_invoice_refuses_bad_arguments_with_status_2(
    database_url: str, db: asyncpg.Pool, customer_id: int, flag: str, value: str, says: str
) -> None:
    arguments = {"--account": "B111", "--amount": "10.00", "--due": "2026-12-31", flag: value}
    refused = alarmhub(database_url, "admin", "create-invoice", *(part for item in arguments.items() for part in item))
    assert refused.returncode == 2, (refused.stdout, refused.stderr)
    assert says in refused.stderr and refused.stdout == ""
    assert await db.fetchval("SELECT count(*) FROM invoices") == 0


async def test_a_due_date_before_today_is_a_business_refusal(
    database_url: str, db: asyncpg.Pool, customer_id: int
) -> None:
    refused = alarmhub(
        database_url, "admin", "create-invoice", "--account", "B111", "--amount", "5", "--due", "2001-01-01"
    )
    assert refused.returncode == 1 and "due date cannot be before the issue date" in refused.stderr
    assert await db.fetchval("SELECT count(*) FROM invoices") == 0


async def test_set_the_monthly_fee_then_run_the_billing_cycle(
    database_url: str, db: asyncpg.Pool, customer_id: int
) -> None:
    bad = alarmhub(database_url, "admin", "set-monthly-fee", "--account", "B111", "--amount", "ten")
    assert bad.returncode == 2 and "--amount" in bad.stderr
    unknown = alarmhub(database_url, "admin", "set-monthly-fee", "--account", "FFFF", "--amount", "10")
    assert unknown.returncode == 2 and "no panel has the account number" in unknown.stderr
    assert await db.fetchval("SELECT monthly_fee FROM customers WHERE id = $1", customer_id) == Decimal("0.00")

    fee = alarmhub(database_url, "admin", "set-monthly-fee", "--account", "B111", "--amount", "$39.99")
    assert fee.returncode == 0, fee.stderr
    assert await db.fetchval("SELECT monthly_fee FROM customers WHERE id = $1", customer_id) == Decimal("39.99")

    first = alarmhub(database_url, "admin", "run-billing-cycle")
    assert first.returncode == 0 and first.stdout == "1\n", first.stderr
    again = alarmhub(database_url, "admin", "run-billing-cycle")
    assert again.returncode == 0 and again.stdout == "0\n", again.stderr  # one invoice per customer and month
    invoice = await db.fetchrow("SELECT total, period FROM invoices WHERE customer_id = $1", customer_id)
    assert invoice["total"] == Decimal("39.99") and invoice["period"].day == 1

    none = alarmhub(database_url, "admin", "set-monthly-fee", "--account", "B111", "--amount", "0")
    assert none.returncode == 0, none.stderr
    assert await db.fetchval("SELECT monthly_fee FROM customers WHERE id = $1", customer_id) == Decimal("0.00")
