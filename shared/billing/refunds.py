"""Refunds: money of a succeeded payment given back through the gateway once per key, and taken back in the ledger."""

from __future__ import annotations

from decimal import Decimal

from shared.billing.gateway import GatewayError, GatewayTimeout, GatewayUnavailable, PaymentGateway, RefundResult
from shared.billing.ledger import lock_customer, take_back_for_refund
from shared.billing.money import format_money, is_cents
from shared.db import Connection, Pool
from shared.errors import Conflict, DomainError, NotFound
from shared.logs import get_logger
from shared.scope import CustomerScope

log = get_logger(__name__)


def refund_gateway_key(refund_id: int) -> str:
    return f"alarmhub-refund-{refund_id}"


async def refund_payment(
    pool: Pool,
    gateway: PaymentGateway,
    *,
    scope: CustomerScope,
    payment_id: int,
    amount: Decimal,
    reason: str,
    idempotency_key: str,
    created_by: int | None,
) -> int:
    """Give back part or all of a succeeded payment through the gateway; the refund's id, whatever its outcome.

    At most the payment's amount less its refunds not failed (Conflict otherwise). On success the ledger takes the
    money from the payment's unapplied credit first, then back from the invoices it paid, newest first (re-opening
    them), and a refund notice is queued. A refused refund is recorded failed; an unanswered one stays pending (sent
    again under the same key by reconcile_pending, or by submitting the same form again).
    """
    if not 16 <= len(idempotency_key) <= 200:
        raise DomainError("This form is out of date; open the payment again.", field="idempotency_key")
    if not is_cents(amount) or amount <= 0:
        raise DomainError("Enter an amount greater than zero, in cents.", field="amount")
    async with pool.acquire() as connection, connection.transaction():
        await lock_customer(connection, scope.customer_id)
        payment = await connection.fetchrow(
            "SELECT number, amount, status, gateway_charge_id FROM payments WHERE id = $1 AND customer_id = $2",
            payment_id,
            scope.customer_id,
        )
        if payment is None:
            raise NotFound("No such payment.")
        earlier = await connection.fetchrow(
            "SELECT id, payment_id, amount, status FROM refunds WHERE idempotency_key = $1", idempotency_key
        )
        if earlier is not None:
            if earlier["payment_id"] != payment_id or earlier["amount"] != amount:
                raise Conflict("This refund form was used for another refund; open the payment again.")
            refund_id: int = earlier["id"]
            if earlier["status"] != "pending":
                return refund_id
        else:
            if payment["status"] != "succeeded":
                raise Conflict(f"Payment {payment['number']} did not go through: there is nothing to refund.")
            refundable = payment["amount"] - await _refunds_not_failed(connection, payment_id)
            if amount > refundable:
                raise Conflict(
                    f"At most {format_money(refundable)} of payment {payment['number']} can be refunded.",
                    field="amount",
                )
            refund_id = await connection.fetchval(
                """INSERT INTO refunds (payment_id, amount, reason, idempotency_key, created_by)
                   VALUES ($1, $2, $3, $4, $5) RETURNING id""",
                payment_id,
                amount,
                reason.strip(),
                idempotency_key,
                created_by,
            )
    await send_refund(pool, gateway, refund_id, payment["gateway_charge_id"], amount)
    return refund_id


async def _refunds_not_failed(connection: Connection, payment_id: int) -> Decimal:
    total: Decimal = await connection.fetchval(
        "SELECT coalesce(sum(amount), 0) FROM refunds WHERE payment_id = $1 AND status <> 'failed'", payment_id
    )
    return total


async def send_refund(pool: Pool, gateway: PaymentGateway, refund_id: int, charge_id: str, amount: Decimal) -> str:
    """Ask the gateway for a pending refund (again: its key makes that safe) and settle the answer; the status."""
    try:
        result = await gateway.refund(charge_id, amount, idempotency_key=refund_gateway_key(refund_id))
    except (GatewayTimeout, GatewayUnavailable) as error:
        log.warning("refund left pending", refund_id=refund_id, reason=type(error).__name__)
        return "pending"
    except GatewayError as error:
        log.warning("gateway refused the refund", refund_id=refund_id, error=str(error))
        return await settle_refund(pool, refund_id, None, failure=str(error))
    return await settle_refund(pool, refund_id, result)


async def settle_refund(pool: Pool, refund_id: int, result: RefundResult | None, *, failure: str = "") -> str:
    """Record the gateway's answer for a pending refund (idempotent); on success take the money back in the ledger."""
    async with pool.acquire() as connection, connection.transaction():
        refund = await connection.fetchrow(
            "SELECT r.payment_id, p.customer_id FROM refunds r JOIN payments p ON p.id = r.payment_id WHERE r.id = $1",
            refund_id,
        )
        if refund is None:
            raise NotFound("No such refund.")
        await lock_customer(connection, refund["customer_id"])
        current: str = await connection.fetchval("SELECT status FROM refunds WHERE id = $1", refund_id)
        if current != "pending":
            return current
        if result is None:
            await connection.execute(
                "UPDATE refunds SET status = 'failed', failure_message = $2, settled_at = now() WHERE id = $1",
                refund_id,
                failure or "The payment gateway refused the refund.",
            )
            return "failed"
        await connection.execute(
            "UPDATE refunds SET status = 'succeeded', gateway_refund_id = $2, settled_at = now() WHERE id = $1",
            refund_id,
            result.id,
        )
        await take_back_for_refund(connection, refund_id)
        await connection.execute(
            "INSERT INTO billing_notices (kind, customer_id, payment_id, refund_id) VALUES ('refund', $1, $2, $3)",
            refund["customer_id"],
            refund["payment_id"],
            refund_id,
        )
    log.info("refund settled", refund_id=refund_id, payment_id=refund["payment_id"])
    return "succeeded"
