"""The demo set's billing (SPEC §3: demo-data makes invoices too): fees, a card on file, one invoice paid, one open."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import asyncpg

from shared.billing.ledger import ledger_problems
from shared.demo import load_demo_data
from tests.shared.billing.ledger_setup import billing_secrets_scan  # noqa: F401 (the secrets scan, see there)


async def billing_counts(db: asyncpg.Pool) -> dict[str, int]:
    tables = (
        "invoices",
        "invoice_lines",
        "payments",
        "allocations",
        "payment_methods",
        "sandbox_tokens",
        "sandbox_charges",
    )
    return {table: await db.fetchval(f"SELECT count(*) FROM {table}") for table in tables}


async def test_the_demo_set_has_billing_once(db: asyncpg.Pool) -> None:
    """Monthly fees; Jordan Avery has a default Visa 4242, last month's invoice paid with it and this month's open."""
    async with db.acquire() as connection:
        await load_demo_data(connection)
    fees = dict(await db.fetch("SELECT name, monthly_fee FROM customers"))
    assert fees == {
        "Jordan Avery": Decimal("39.99"),
        "Harbor Bakery LLC": Decimal("59.00"),
        "Riverside Clinic": Decimal("89.50"),
    }
    jordan = await db.fetchval("SELECT id FROM customers WHERE name = 'Jordan Avery'")
    invoices = await db.fetch(
        "SELECT i.number, i.period, i.total, coalesce(sum(a.amount), 0) AS applied FROM invoices i "
        "LEFT JOIN allocations a ON a.invoice_id = i.id WHERE i.customer_id = $1 GROUP BY i.id ORDER BY i.period",
        jordan,
    )
    assert [(row["total"], row["applied"]) for row in invoices] == [
        (Decimal("39.99"), Decimal("39.99")),
        (Decimal("39.99"), Decimal("0")),
    ]
    this_month = datetime.now(UTC).date().replace(day=1)
    assert [row["period"] for row in invoices] == [(this_month - timedelta(days=1)).replace(day=1), this_month]
    method = await db.fetchrow("SELECT * FROM payment_methods WHERE customer_id = $1", jordan)
    assert (method["brand"], method["last4"], method["is_default"], method["gateway"]) == (
        "Visa",
        "4242",
        True,
        "sandbox",
    )
    payment = await db.fetchrow("SELECT * FROM payments WHERE customer_id = $1", jordan)
    assert payment["status"] == "succeeded" and payment["method_id"] == method["id"]
    charge = await db.fetchrow("SELECT * FROM sandbox_charges WHERE id = $1", payment["gateway_charge_id"])
    assert charge["idempotency_key"] == f"alarmhub-payment-{payment['id']}" and charge["amount"] == payment["amount"]
    assert charge["token"] == method["gateway_token"]
    assert (
        await db.fetchval("SELECT behaviour FROM sandbox_tokens WHERE token = $1", method["gateway_token"]) == "succeed"
    )
    async with db.acquire() as connection:
        assert await ledger_problems(connection) == []
    assert await db.fetchval("SELECT count(*) FROM billing_notices") == 0, "the demo set queues no mail"

    before = await billing_counts(db)
    async with db.acquire() as connection:
        await load_demo_data(connection)
    assert await billing_counts(db) == before, "loading the demo set again adds nothing"
    assert dict(await db.fetch("SELECT name, monthly_fee FROM customers")) == fees
