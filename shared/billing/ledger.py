"""The customer ledger: its lock, what is due and what is credit, money applied and taken back, and its invariants."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

from shared.billing.money import Due
from shared.db import Connection
from shared.errors import NotFound

ZERO = Decimal("0.00")

# What each succeeded payment has not applied to any invoice nor given back: the customer's credit, payment by payment.
_UNAPPLIED = """
    SELECT p.customer_id, p.id AS payment_id,
           p.amount - coalesce(r.refunded, 0) - coalesce(a.applied, 0) AS unapplied
      FROM payments p
      LEFT JOIN LATERAL (SELECT sum(amount) AS refunded FROM refunds
                          WHERE payment_id = p.id AND status = 'succeeded') r ON true
      LEFT JOIN LATERAL (SELECT sum(amount) AS applied FROM allocations WHERE payment_id = p.id) a ON true
     WHERE p.customer_id = ANY($1::bigint[]) AND p.status = 'succeeded'
"""

# What each invoice that is not void still owes.
_BALANCES = """
    SELECT i.customer_id, i.id AS invoice_id, i.number, i.due_on, i.total - coalesce(a.applied, 0) AS balance
      FROM invoices i
      LEFT JOIN LATERAL (SELECT sum(amount) AS applied FROM allocations WHERE invoice_id = i.id) a ON true
     WHERE i.customer_id = ANY($1::bigint[]) AND i.voided_at IS NULL
"""

# Credit applied to what is due, both as running ranges on one line per customer: payment money oldest payment first
# (by id), dues oldest first (due_on, id); each overlap of a payment's range with an invoice's range is one
# allocation. Set-based, so the billing cycle applies the credit of every customer that has some in one statement.
_APPLY_CREDIT = f"""
    WITH credit AS (
        SELECT customer_id, payment_id, unapplied,
               sum(unapplied) OVER (PARTITION BY customer_id ORDER BY payment_id) AS upto
          FROM ({_UNAPPLIED}) u
         WHERE unapplied > 0
    ), due AS (
        SELECT customer_id, invoice_id, balance,
               sum(balance) OVER (PARTITION BY customer_id ORDER BY due_on, invoice_id) AS upto
          FROM ({_BALANCES}) b
         WHERE balance > 0
    )
    INSERT INTO allocations (payment_id, invoice_id, amount, reason)
    SELECT c.payment_id, d.invoice_id,
           least(c.upto, d.upto) - greatest(c.upto - c.unapplied, d.upto - d.balance), 'credit'
      FROM credit c
      JOIN due d ON d.customer_id = c.customer_id
                AND c.upto - c.unapplied < d.upto AND d.upto - d.balance < c.upto
     ORDER BY c.customer_id, c.payment_id, d.upto
    RETURNING amount
"""


async def lock_customer(connection: Connection, customer_id: int) -> None:
    """Take the customer's ledger lock (the customers row, FOR NO KEY UPDATE) until the transaction ends."""
    found = await connection.fetchval("SELECT 1 FROM customers WHERE id = $1 FOR NO KEY UPDATE", customer_id)
    if found is None:
        raise NotFound("No such customer.")


async def lock_customers(connection: Connection, customer_ids: Sequence[int]) -> list[int]:
    """Take several customers' ledger locks in id order (so two such callers never deadlock); the ids that exist."""
    rows = await connection.fetch(
        "SELECT id FROM customers WHERE id = ANY($1::bigint[]) ORDER BY id FOR NO KEY UPDATE", list(customer_ids)
    )
    return [row["id"] for row in rows]


async def open_dues(connection: Connection, customer_id: int) -> list[Due]:
    """The customer's invoices that still owe something (not void), oldest first."""
    rows = await connection.fetch(
        f"SELECT * FROM ({_BALANCES}) b WHERE balance > 0 ORDER BY due_on, invoice_id", [customer_id]
    )
    return [Due(row["invoice_id"], row["number"], row["due_on"], row["balance"]) for row in rows]


async def balance_due(connection: Connection, customer_id: int) -> Decimal:
    """What the customer owes over all invoices that are not void."""
    total: Decimal = await connection.fetchval(f"SELECT coalesce(sum(balance), 0) FROM ({_BALANCES}) b", [customer_id])
    return total.quantize(ZERO)


async def credit_available(connection: Connection, customer_id: int) -> Decimal:
    """Money the customer paid that is neither applied to an invoice nor refunded."""
    total: Decimal = await connection.fetchval(
        f"SELECT coalesce(sum(unapplied), 0) FROM ({_UNAPPLIED}) u", [customer_id]
    )
    return total.quantize(ZERO)


async def apply_plan(connection: Connection, payment_id: int) -> Decimal:
    """Apply a succeeded payment as its plan asked, capped at each invoice's balance now; the rest stays credit.

    The plan was made when the payment was submitted; since then another payment may have paid an invoice or staff
    voided it, so each line is capped at what that invoice owes at this moment (and void invoices get nothing).
    Returns the amount applied. The caller holds the customer's ledger lock.
    """
    payment = await connection.fetchrow("SELECT customer_id, plan, status FROM payments WHERE id = $1", payment_id)
    if payment is None or payment["status"] != "succeeded":
        raise ValueError(f"payment {payment_id} has not succeeded: nothing to apply")
    left: Decimal = await connection.fetchval(
        f"SELECT unapplied FROM ({_UNAPPLIED}) u WHERE payment_id = $2", [payment["customer_id"]], payment_id
    )
    wanted = [(int(line["invoice_id"]), Decimal(line["amount"])) for line in payment["plan"]]
    balances = {
        row["invoice_id"]: row["balance"]
        for row in await connection.fetch(
            f"SELECT invoice_id, balance FROM ({_BALANCES}) b WHERE invoice_id = ANY($2::bigint[])",
            [payment["customer_id"]],
            [invoice_id for invoice_id, _ in wanted],
        )
    }
    lines: list[tuple[int, Decimal]] = []
    for invoice_id, amount in wanted:
        part = min(amount, balances.get(invoice_id, ZERO), left)
        if part > 0:
            lines.append((invoice_id, part))
            balances[invoice_id] -= part
            left -= part
    if lines:
        await connection.execute(
            """INSERT INTO allocations (payment_id, invoice_id, amount, reason)
               SELECT $1, invoice_id, amount, 'payment'
                 FROM unnest($2::bigint[], $3::numeric[]) AS l(invoice_id, amount)""",
            payment_id,
            [invoice_id for invoice_id, _ in lines],
            [amount for _, amount in lines],
        )
    return sum((amount for _, amount in lines), ZERO)


async def apply_credit(connection: Connection, customer_id: int) -> Decimal:
    """Apply the customer's unapplied money (oldest payment first) to open invoices (oldest first); the amount applied.

    The caller holds the customer's ledger lock.
    """
    return await apply_credit_of(connection, [customer_id])


async def apply_credit_of(connection: Connection, customer_ids: Sequence[int]) -> Decimal:
    """apply_credit for many customers in one statement (the billing cycle); the caller holds all their locks."""
    rows = await connection.fetch(_APPLY_CREDIT, list(customer_ids))
    return sum((row["amount"] for row in rows), ZERO)


async def take_back_for_refund(connection: Connection, refund_id: int) -> Decimal:
    """Record a succeeded refund in the ledger: from the payment's unapplied money first, then from the invoices it
    paid, newest invoice first (negative allocations, reason 'refund'), which re-opens them. Returns the amount taken
    back from invoices. Call after the refund row is marked succeeded, holding the customer's ledger lock."""
    refund = await connection.fetchrow(
        "SELECT r.payment_id, r.amount, r.status, p.customer_id FROM refunds r JOIN payments p ON p.id = r.payment_id"
        " WHERE r.id = $1",
        refund_id,
    )
    if refund is None or refund["status"] != "succeeded":
        raise ValueError(f"refund {refund_id} has not succeeded: nothing to take back")
    # The unapplied money now already counts this refund as given back; below zero, invoices must give it back.
    unapplied: Decimal = await connection.fetchval(
        f"SELECT unapplied FROM ({_UNAPPLIED}) u WHERE payment_id = $2", [refund["customer_id"]], refund["payment_id"]
    )
    needed = -unapplied
    if needed <= 0:
        return ZERO
    paid = await connection.fetch(
        """SELECT a.invoice_id, sum(a.amount) AS net
             FROM allocations a JOIN invoices i ON i.id = a.invoice_id
            WHERE a.payment_id = $1
            GROUP BY a.invoice_id, i.issued_on
           HAVING sum(a.amount) > 0
            ORDER BY i.issued_on DESC, a.invoice_id DESC""",
        refund["payment_id"],
    )
    lines: list[tuple[int, Decimal]] = []
    for row in paid:
        if needed <= 0:
            break
        part = min(needed, row["net"])
        lines.append((row["invoice_id"], part))
        needed -= part
    if needed > 0:  # refund_payment never lets this happen: refunds are capped at the payment's amount
        raise RuntimeError(f"refund {refund_id} exceeds what payment {refund['payment_id']} holds")
    await connection.execute(
        """INSERT INTO allocations (payment_id, invoice_id, amount, reason, refund_id)
           SELECT $1, invoice_id, -amount, 'refund', $4
             FROM unnest($2::bigint[], $3::numeric[]) AS l(invoice_id, amount)""",
        refund["payment_id"],
        [invoice_id for invoice_id, _ in lines],
        [amount for _, amount in lines],
        refund_id,
    )
    return sum((amount for _, amount in lines), ZERO)


async def take_back_for_void(connection: Connection, invoice_id: int) -> Decimal:
    """Give every payment back what it applied to an invoice being voided (negative allocations, reason 'void'); the
    money becomes those payments' credit again. The caller holds the customer's ledger lock."""
    rows = await connection.fetch(
        """INSERT INTO allocations (payment_id, invoice_id, amount, reason)
           SELECT payment_id, invoice_id, -sum(amount), 'void'
             FROM allocations WHERE invoice_id = $1
            GROUP BY payment_id, invoice_id HAVING sum(amount) > 0
            ORDER BY payment_id
           RETURNING amount""",
        invoice_id,
    )
    return -sum((row["amount"] for row in rows), ZERO)


# Each query finds one kind of violation; $1 is a customer id or NULL for every customer.
_PROBLEMS = (
    """SELECT format('invoice %s: total %s but its lines add up to %s', i.number, i.total, coalesce(l.sum, 0))
         FROM invoices i LEFT JOIN LATERAL (SELECT sum(amount) FROM invoice_lines WHERE invoice_id = i.id) l ON true
        WHERE ($1::bigint IS NULL OR i.customer_id = $1) AND i.total IS DISTINCT FROM l.sum""",
    """SELECT format('invoice %s: %s applied of a total of %s%s', i.number, a.applied, i.total,
                     CASE WHEN i.voided_at IS NOT NULL THEN ' (void)' ELSE '' END)
         FROM invoices i JOIN LATERAL (SELECT coalesce(sum(amount), 0) AS applied FROM allocations
                                        WHERE invoice_id = i.id) a ON true
        WHERE ($1::bigint IS NULL OR i.customer_id = $1)
          AND (a.applied < 0 OR a.applied > i.total OR (i.voided_at IS NOT NULL AND a.applied <> 0))""",
    """SELECT format('payment %s (%s): %s applied, %s refunded of %s', p.number, p.status, coalesce(a.applied, 0),
                     coalesce(r.refunded, 0), p.amount)
         FROM payments p
         LEFT JOIN LATERAL (SELECT sum(amount) AS applied FROM allocations WHERE payment_id = p.id) a ON true
         LEFT JOIN LATERAL (SELECT sum(amount) AS refunded FROM refunds
                             WHERE payment_id = p.id AND status = 'succeeded') r ON true
        WHERE ($1::bigint IS NULL OR p.customer_id = $1)
          AND (coalesce(a.applied, 0) < 0 OR coalesce(a.applied, 0) > p.amount - coalesce(r.refunded, 0)
               OR (p.status <> 'succeeded' AND (a.applied IS NOT NULL OR r.refunded IS NOT NULL)))""",
    """SELECT format('payment %s: refunds of %s (not failed) exceed its %s', p.number, sum(r.amount), p.amount)
         FROM payments p JOIN refunds r ON r.payment_id = p.id AND r.status <> 'failed'
        WHERE ($1::bigint IS NULL OR p.customer_id = $1)
        GROUP BY p.id HAVING sum(r.amount) > p.amount""",
    """SELECT format('payment %s applied %s net to invoice %s', p.number, sum(a.amount), i.number)
         FROM allocations a JOIN payments p ON p.id = a.payment_id JOIN invoices i ON i.id = a.invoice_id
        WHERE ($1::bigint IS NULL OR p.customer_id = $1 OR i.customer_id = $1)
        GROUP BY p.id, i.id HAVING sum(a.amount) < 0 OR p.customer_id <> i.customer_id""",
    """SELECT format('allocation %s: refund %s is not a succeeded refund of payment %s', a.id, a.refund_id,
                     a.payment_id)
         FROM allocations a JOIN payments p ON p.id = a.payment_id LEFT JOIN refunds r ON r.id = a.refund_id
        WHERE ($1::bigint IS NULL OR p.customer_id = $1) AND a.reason = 'refund'
          AND (r.id IS NULL OR r.payment_id <> a.payment_id OR r.status <> 'succeeded')""",
)


async def ledger_problems(connection: Connection, customer_id: int | None = None) -> list[str]:
    """Every violation of the ledger's invariants (one customer's, or everyone's); an empty list means it is sound."""
    problems: list[str] = []
    for query in _PROBLEMS:
        problems.extend(row[0] for row in await connection.fetch(query, customer_id))
    return problems
