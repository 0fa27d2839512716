"""SQL only the billing pages need (receipts list, who gets the receipt, who may add methods), by CustomerScope."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from shared.billing.documents import method_label
from shared.db import Connection
from shared.scope import CustomerScope

ZERO = Decimal("0.00")


@dataclass(frozen=True, slots=True)
class Receipt:
    """A succeeded payment as the Receipts page lists it: what it paid on which invoice, and what stayed credit."""

    payment_id: int
    number: str
    settled_at: datetime
    amount: Decimal
    method_label: str
    applied: tuple[tuple[str, Decimal], ...]  # (invoice number, net amount), in the order the payment reached them
    refunded: Decimal

    @property
    def credit(self) -> Decimal:
        return self.amount - self.refunded - sum((amount for _, amount in self.applied), ZERO)


# Net per invoice (applied minus taken back by a refund or void), as receipts print it (shared/billing/documents.py).
_RECEIPTS = """
    SELECT p.id, p.number, p.amount, p.settled_at, m.kind, m.brand, m.last4, m.account_type,
           coalesce(applied.numbers, '{}') AS numbers, coalesce(applied.amounts, '{}') AS amounts,
           coalesce((SELECT sum(r.amount) FROM refunds r WHERE r.payment_id = p.id AND r.status = 'succeeded'), 0)
               AS refunded
      FROM payments p
      JOIN payment_methods m ON m.id = p.method_id
      LEFT JOIN LATERAL (
            SELECT array_agg(net.number ORDER BY net.first) AS numbers,
                   array_agg(net.amount ORDER BY net.first) AS amounts
              FROM (SELECT i.number, sum(a.amount) AS amount, min(a.id) AS first
                      FROM allocations a JOIN invoices i ON i.id = a.invoice_id
                     WHERE a.payment_id = p.id
                     GROUP BY i.id, i.number
                    HAVING sum(a.amount) <> 0) net
           ) applied ON true
     WHERE p.customer_id = $1 AND p.status = 'succeeded'
     ORDER BY p.settled_at DESC, p.id DESC
     LIMIT $2
"""


async def receipts(connection: Connection, scope: CustomerScope, *, limit: int = 100) -> list[Receipt]:
    """One receipt per succeeded payment of the scope's customer, newest first."""
    rows = await connection.fetch(_RECEIPTS, scope.customer_id, limit)
    return [
        Receipt(
            payment_id=row["id"],
            number=row["number"],
            settled_at=row["settled_at"],
            amount=row["amount"],
            method_label=method_label(row["kind"], row["brand"], row["last4"], row["account_type"]),
            applied=tuple(zip(row["numbers"], row["amounts"], strict=True)),
            refunded=row["refunded"],
        )
        for row in rows
    ]


async def receipt_recipient(connection: Connection, scope: CustomerScope) -> str:
    """Where receipts go (shared/billing/notices.py): the owner's login e-mail, else the customer's contact e-mail."""
    recipient: str | None = await connection.fetchval(
        """SELECT coalesce((SELECT u.email FROM users u WHERE u.customer_id = c.id AND u.role = 'owner'
                             ORDER BY u.id LIMIT 1), nullif(c.email, ''))
             FROM customers c WHERE c.id = $1""",
        scope.customer_id,
    )
    return recipient or ""


async def method_managers(connection: Connection, scope: CustomerScope) -> list[str]:
    """Who on the account may add a payment method (the owner, and secondary users granted it): a secondary user
    without the grant is told whom to ask."""
    rows = await connection.fetch(
        """SELECT coalesce(nullif(name, ''), email) AS who FROM users
            WHERE customer_id = $1 AND password_hash IS NOT NULL
              AND (role = 'owner' OR 'manage_payment_methods' = ANY (permissions))
            ORDER BY role = 'owner' DESC, id""",
        scope.customer_id,
    )
    return [row["who"] for row in rows]
