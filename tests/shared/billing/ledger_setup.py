"""Set-up for the ledger tests: customers, a payment method row, money settled through the ledger's own path."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Sequence
from datetime import date
from decimal import Decimal

import pytest_asyncio

from shared.billing.ledger import apply_plan, lock_customer, take_back_for_refund
from shared.db import Connection


async def new_customer(connection: Connection, name: str = "Alpha", *, monthly_fee: str = "0") -> int:
    customer_id: int = await connection.fetchval(
        "INSERT INTO customers (name, email, monthly_fee) VALUES ($1, $2, $3) RETURNING id",
        name,
        f"{name.lower()}@example.com",
        Decimal(monthly_fee),
    )
    return customer_id


async def method_row(connection: Connection, customer_id: int) -> int:
    """A card on file as the ledger sees it: a token and what a person recognises it by (no gateway involved)."""
    method_id: int = await connection.fetchval(
        """INSERT INTO payment_methods (customer_id, kind, gateway, gateway_token, brand, last4, exp_month, exp_year,
                                        holder_name, billing_address, terms_accepted_at)
           VALUES ($1, 'card', 'sandbox', $2, 'Visa', '1111', 12, 2030, 'Pat Doe', '1 Main St', now())
           RETURNING id""",
        customer_id,
        f"tok_ledger_{secrets.token_hex(8)}",
    )
    return method_id


async def invoice(
    connection: Connection, customer_id: int, *amounts: str, due: date = date(2026, 12, 20), period: date | None = None
) -> int:
    from shared.billing.invoices import create_invoice

    issued = await create_invoice(
        connection,
        customer_id=customer_id,
        lines=[(f"Line {n}", Decimal(a)) for n, a in enumerate(amounts, 1)],
        issued_on=date(2026, 12, 1),
        due_on=due,
        period=period,
    )
    return issued.id


async def settled_payment(
    connection: Connection,
    customer_id: int,
    method_id: int,
    amount: str,
    plan: Sequence[tuple[int, Decimal]] = (),
) -> int:
    """A payment that succeeded, applied to the ledger as the settling transaction does it."""
    async with connection.transaction():
        await lock_customer(connection, customer_id)
        payment_id: int = await connection.fetchval(
            """INSERT INTO payments (customer_id, number, method_id, amount, source, idempotency_key, plan)
               VALUES ($1, 'PAY-' || nextval('payment_numbers'), $2, $3, 'staff', $4, $5) RETURNING id""",
            customer_id,
            method_id,
            Decimal(amount),
            f"ledger-test-{secrets.token_hex(8)}",
            [{"invoice_id": i, "amount": str(a)} for i, a in plan],
        )
        await connection.execute(
            "UPDATE payments SET status = 'succeeded', gateway_charge_id = $2, settled_at = now() WHERE id = $1",
            payment_id,
            f"ch_{payment_id}",
        )
        await apply_plan(connection, payment_id)
    return payment_id


async def settled_refund(connection: Connection, customer_id: int, payment_id: int, amount: str) -> int:
    async with connection.transaction():
        await lock_customer(connection, customer_id)
        refund_id: int = await connection.fetchval(
            "INSERT INTO refunds (payment_id, amount, idempotency_key) VALUES ($1, $2, $3) RETURNING id",
            payment_id,
            Decimal(amount),
            f"ledger-refund-{secrets.token_hex(8)}",
        )
        await connection.execute(
            "UPDATE refunds SET status = 'succeeded', gateway_refund_id = $2, settled_at = now() WHERE id = $1",
            refund_id,
            f"re_{refund_id}",
        )
        await take_back_for_refund(connection, refund_id)
    return refund_id


@pytest_asyncio.fixture(autouse=True)
async def billing_secrets_scan(database_url: str) -> AsyncIterator[None]:
    """tests/conftest.py's secrets scan, for modules that import it (it overrides the conftest's there).

    Written while the conftest's version could not set up `database_url` from inside the running loop; that is fixed
    now and this module's own tests use the conftest's. Kept for the modules that still import it: same scan.
    """
    from tests.secrets_scan import database_findings, debug_json_logs, log_findings

    with debug_json_logs() as stream:
        yield
    findings = log_findings(stream.getvalue()) + await database_findings(database_url)
    assert not findings, "secrets leaked:\n" + "\n".join(findings)
