"""Billing test setup through the real domain: invoices issued by shared.billing.invoices, cards tokenised by the
sandbox gateway and kept by shared.billing.methods, exactly as staff and the add-method page make them."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import asyncpg

from shared.billing.gateway import CardDetails
from shared.billing.invoices import IssuedInvoice, create_invoice
from shared.billing.methods import PaymentMethod, add_payment_method
from shared.billing.sandbox import SandboxGateway
from shared.scope import CustomerScope
from tests.portal.conftest import Customer

VISA_OK = "4242424242424242"
VISA_DECLINED = "4000000000000002"
VISA_TIMEOUT = "4000000000003220"
_KEY = re.compile(r'name="idempotency_key" value="([^"]+)"')


def today() -> date:
    return datetime.now(UTC).date()


async def issue(
    db: asyncpg.Pool, customer: Customer, amount: str, *, due_in_days: int = 15, description: str = "Monitoring"
) -> IssuedInvoice:
    async with db.acquire() as connection:
        return await create_invoice(
            connection,
            customer_id=customer.customer_id,
            lines=[(description, Decimal(amount))],
            issued_on=today() - timedelta(days=max(0, -due_in_days)),
            due_on=today() + timedelta(days=due_in_days),
        )


async def add_card(
    db: asyncpg.Pool, customer: Customer, number: str = VISA_OK, *, make_default: bool = True, timeout: float = 0.5
) -> PaymentMethod:
    """A card on file, as the add-method page keeps it: tokenised by the sandbox, stored as token + last four."""
    scope = CustomerScope(customer.customer_id, customer.owner_id)
    details = CardDetails(
        number=number,
        exp_month=12,
        exp_year=today().year + 3,
        security_code="123",
        holder_name=f"Holder of {customer.account}",
        billing_address="1 Test Street",
    )
    return await add_payment_method(
        db, SandboxGateway(db, timeout=timeout), scope, details, make_default=make_default, terms_accepted=True
    )


def idempotency_key(page: str) -> str:
    match = _KEY.search(page)
    assert match, page
    return match.group(1)
