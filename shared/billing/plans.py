"""A customer's plan: the monthly monitoring fee the billing cycle invoices."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from shared.billing.money import parse_amount
from shared.db import Connection
from shared.errors import NotFound
from shared.scope import CustomerScope

MAX_MONTHLY_FEE = Decimal("100000.00")


def parse_monthly_fee(text: str, *, field: str = "monthly_fee") -> Decimal:
    """0 (no fee: the billing cycle invoices nothing) or an amount as parse_amount takes it ("$39.99")."""
    try:
        if Decimal(text.strip().removeprefix("$").strip()) == 0:
            return Decimal("0.00")
    except (InvalidOperation, ValueError):
        pass  # parse_amount says what is wrong with it
    return parse_amount(text, field=field, maximum=MAX_MONTHLY_FEE)


async def set_monthly_fee(connection: Connection, scope: CustomerScope, fee: Decimal) -> None:
    """The plan the billing cycle invoices from its next run on (invoices already issued keep their amounts)."""
    updated = await connection.fetchval(
        "UPDATE customers SET monthly_fee = $2 WHERE id = $1 RETURNING id", scope.customer_id, fee
    )
    if updated is None:
        raise NotFound("there is no such customer")
