"""Payments: paying once per idempotency key, settling the gateway's answer into the ledger, reconciling, refunds."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Literal

import asyncpg

from shared.billing.gateway import Charge, GatewayError, GatewayTimeout, GatewayUnavailable, PaymentGateway
from shared.billing.ledger import ZERO, apply_plan, lock_customer, open_dues
from shared.billing.methods import PaymentMethod, method_token
from shared.billing.money import MAX_PAYMENT, format_money, is_cents, plan_allocation
from shared.billing.refunds import refund_payment, send_refund
from shared.db import Connection, Pool
from shared.errors import DomainError, NotFound
from shared.logs import get_logger
from shared.scope import CustomerScope

# refund_payment lives in refunds.py (kept small) and is part of this module's contract: re-exported.
__all__ = [
    "PaymentDetail",
    "PaymentOutcome",
    "PaymentRequest",
    "PaymentRow",
    "PaymentStatus",
    "gateway_key",
    "list_payments",
    "pay",
    "payment_by_key",
    "payment_detail",
    "reconcile_pending",
    "refund_payment",
    "settle_payment",
]

log = get_logger(__name__)

NOT_CHARGED = "not_charged"
NOT_CHARGED_MESSAGE = "The payment never reached the payment gateway and nothing was charged — please try again."
GATEWAY_REFUSED_MESSAGE = "The payment gateway refused the payment and nothing was charged — please try again."


class PaymentStatus(StrEnum):
    PENDING = "pending"
    SUCCEEDED = "succeeded"
    DECLINED = "declined"
    FAILED = "failed"
    # Shown, never stored: a succeeded payment given back in part or in full.
    PARTLY_REFUNDED = "partly refunded"
    REFUNDED = "refunded"


@dataclass(frozen=True)
class PaymentRequest:
    customer_id: int
    method_id: int
    amount: Decimal
    requested: Mapping[int, Decimal] | None  # explicit amounts for some invoices (allocate_<id>)
    invoice_ids: Sequence[int]  # the ticked invoices: the rest of the money goes oldest first over these only
    idempotency_key: str
    source: Literal["portal", "autopay", "staff"]
    created_by: int | None


@dataclass(frozen=True)
class PaymentOutcome:
    payment_id: int
    number: str
    status: PaymentStatus  # pending: the gateway has not answered; the worker settles it (reconcile_pending)
    failure_code: str
    failure_message: str
    repeated: bool  # the key was seen before: this is that earlier payment, and nothing was charged now


@dataclass(frozen=True)
class PaymentRow:
    id: int
    number: str
    created_at: datetime
    settled_at: datetime | None
    method_id: int
    method_label: str
    amount: Decimal
    status: PaymentStatus  # as shown: refunded / partly refunded for a succeeded payment given back
    succeeded: bool  # the charge went through (refunded or not)
    refunded: Decimal  # by succeeded refunds
    source: str
    failure_code: str
    failure_message: str


@dataclass(frozen=True)
class PaymentAllocation:
    invoice_id: int
    invoice_number: str
    amount: Decimal  # negative: taken back (a refund, the invoice voided)
    reason: str
    created_at: datetime


@dataclass(frozen=True)
class RefundRow:
    id: int
    amount: Decimal
    reason: str
    status: str  # pending, succeeded, failed
    failure_message: str
    created_at: datetime
    settled_at: datetime | None


@dataclass(frozen=True)
class PaymentDetail:
    payment: PaymentRow
    allocations: tuple[PaymentAllocation, ...]
    refunds: tuple[RefundRow, ...]
    unapplied: Decimal  # this payment's money neither applied nor refunded (the customer's credit from it)
    refundable: Decimal  # what may still be refunded: the amount less refunds not failed


def _check_key(key: str) -> None:
    if not 16 <= len(key) <= 200:
        raise DomainError("This form is out of date; please check it and submit it again.", field="idempotency_key")


async def _outcome(connection: Connection, customer_id: int, key: str, *, repeated: bool) -> PaymentOutcome | None:
    row = await connection.fetchrow(
        "SELECT id, number, status, failure_code, failure_message FROM payments"
        " WHERE customer_id = $1 AND idempotency_key = $2",
        customer_id,
        key,
    )
    if row is None:
        return None
    return PaymentOutcome(
        row["id"], row["number"], PaymentStatus(row["status"]), row["failure_code"], row["failure_message"], repeated
    )


_IN_FLIGHT = "SELECT EXISTS (SELECT 1 FROM payments WHERE customer_id = $1 AND status = 'pending')"


async def pay(pool: Pool, gateway: PaymentGateway, request: PaymentRequest) -> PaymentOutcome:
    """Charge a payment method once for this request's idempotency key and apply the money to the ledger.

    1. Under the customer's ledger lock: the method is checked, the plan made over the ticked invoices' current dues,
       and the payment row written pending — or, when the key was seen before, that payment is the answer and
       nothing is charged (two concurrent submissions: the second waits for the lock and finds the first's row).
    2. The gateway charge, outside any transaction, under the gateway key alarmhub-payment-<id>.
    3. Settling: succeeded → the plan applied and a receipt notice; declined or failed → recorded, nothing applied;
       no answer (timeout) → stays pending for reconcile_pending, which asks the gateway by that key.
    """
    _check_key(request.idempotency_key)
    if not is_cents(request.amount) or request.amount <= 0 or request.amount > MAX_PAYMENT:
        raise DomainError(f"Enter an amount from $0.01 to {format_money(MAX_PAYMENT)}.", field="amount")
    scope = CustomerScope(request.customer_id, request.created_by)
    async with pool.acquire() as connection, connection.transaction():
        await lock_customer(connection, request.customer_id)
        earlier = await _outcome(connection, request.customer_id, request.idempotency_key, repeated=True)
        if earlier is not None:
            return earlier
        if await connection.fetchval(_IN_FLIGHT, request.customer_id):
            # Another payment (an autopay draft, a charge the bank has not answered, a second tab's) may be paying
            # these very invoices: paying now could pay them twice.
            raise DomainError(
                "A payment on this account is still being confirmed with the bank. Please try again in a minute, "
                "once it shows as settled under View payments."
            )
        gateway_name, token = await method_token(connection, scope, request.method_id)
        if gateway_name != gateway.name:
            raise DomainError("This payment method cannot be charged any more; please add it again.", field="method_id")
        ticked = set(request.invoice_ids)
        dues = [due for due in await open_dues(connection, request.customer_id) if due.invoice_id in ticked]
        plan = plan_allocation(request.amount, dues, request.requested)
        row = await connection.fetchrow(
            """INSERT INTO payments (customer_id, number, method_id, amount, source, idempotency_key, plan, created_by)
               VALUES ($1, 'PAY-' || nextval('payment_numbers'), $2, $3, $4, $5, $6, $7)
               ON CONFLICT (customer_id, idempotency_key) DO NOTHING
               RETURNING id, number""",
            request.customer_id,
            request.method_id,
            request.amount,
            request.source,
            request.idempotency_key,
            [{"invoice_id": invoice_id, "amount": str(amount)} for invoice_id, amount in plan.lines],
            request.created_by,
        )
        assert row is not None  # the key was looked up under the lock that every insert of it takes
    payment_id: int = row["id"]
    number: str = row["number"]
    log.info("payment submitted", payment_id=payment_id, customer_id=request.customer_id, source=request.source)
    try:
        charge = await gateway.charge(
            token, request.amount, idempotency_key=gateway_key(payment_id), description=f"Payment {number}"
        )
    except (GatewayTimeout, GatewayUnavailable) as error:
        # The outcome is unknown: never charge again; the worker asks the gateway about this key later.
        log.warning("payment left pending", payment_id=payment_id, reason=type(error).__name__)
        return PaymentOutcome(payment_id, number, PaymentStatus.PENDING, "", "", False)
    except GatewayError as error:
        log.error("gateway refused the charge request", payment_id=payment_id, error=str(error))
        status = await _settle_as(pool, payment_id, PaymentStatus.FAILED, "gateway_error", GATEWAY_REFUSED_MESSAGE)
        return PaymentOutcome(payment_id, number, status, "gateway_error", GATEWAY_REFUSED_MESSAGE, False)
    async with pool.acquire() as connection:
        status = await settle_payment(connection, payment_id, charge)
    return PaymentOutcome(payment_id, number, status, charge.failure_code, charge.failure_message, False)


def gateway_key(payment_id: int) -> str:
    """The idempotency key the gateway knows a payment by: one per payment row, so one charge per payment."""
    return f"alarmhub-payment-{payment_id}"


async def settle_payment(connection: Connection, payment_id: int, charge: Charge) -> PaymentStatus:
    """Record the gateway's answer for a pending payment; a payment settled already keeps its outcome (idempotent).

    Succeeded: the plan is applied (capped at today's balances, the rest credit) and a receipt notice queued, all in
    one transaction under the customer's ledger lock.
    """
    async with connection.transaction():
        customer_id = await connection.fetchval("SELECT customer_id FROM payments WHERE id = $1", payment_id)
        if customer_id is None:
            raise NotFound("No such payment.")
        await lock_customer(connection, customer_id)
        current = await connection.fetchval("SELECT status FROM payments WHERE id = $1", payment_id)
        if current != PaymentStatus.PENDING:
            if current != charge.status:
                # Only a charge made after reconcile gave the payment up (give_up_after far too short) gets here:
                # money the ledger does not hold. Loud, for a person to refund it at the gateway.
                log.error(
                    "charge disagrees with its settled payment",
                    payment_id=payment_id,
                    payment=current,
                    charge=charge.status,
                    charge_id=charge.id,
                )
            return PaymentStatus(current)
        status = PaymentStatus(charge.status)
        await connection.execute(
            """UPDATE payments SET status = $2, gateway_charge_id = $3, failure_code = $4, failure_message = $5,
                                   settled_at = now()
                WHERE id = $1""",
            payment_id,
            status.value,
            charge.id,
            charge.failure_code if status is not PaymentStatus.SUCCEEDED else "",
            charge.failure_message if status is not PaymentStatus.SUCCEEDED else "",
        )
        if status is PaymentStatus.SUCCEEDED:
            await apply_plan(connection, payment_id)
            await connection.execute(
                "INSERT INTO billing_notices (kind, customer_id, payment_id) VALUES ('receipt', $1, $2)",
                customer_id,
                payment_id,
            )
    log.info("payment settled", payment_id=payment_id, status=status.value, failure_code=charge.failure_code)
    return status


async def _settle_as(pool: Pool, payment_id: int, status: PaymentStatus, code: str, message: str) -> PaymentStatus:
    """Settle a pending payment as failed without a charge (the gateway refused the request, or never saw it)."""
    async with pool.acquire() as connection, connection.transaction():
        customer_id = await connection.fetchval("SELECT customer_id FROM payments WHERE id = $1", payment_id)
        await lock_customer(connection, customer_id)
        current = await connection.fetchval("SELECT status FROM payments WHERE id = $1", payment_id)
        if current != PaymentStatus.PENDING:
            return PaymentStatus(current)
        await connection.execute(
            """UPDATE payments SET status = $2, failure_code = $3, failure_message = $4, settled_at = now()
                WHERE id = $1""",
            payment_id,
            status.value,
            code,
            message,
        )
    log.info("payment settled", payment_id=payment_id, status=status.value, failure_code=code)
    return status


async def reconcile_pending(pool: Pool, gateway: PaymentGateway, *, older_than: float, give_up_after: float) -> int:
    """Settle payments (and refunds) the gateway did not answer for, by asking it about their keys; how many settled.

    A payment pending for `older_than` seconds is looked up with find_charge and settled with what the gateway
    recorded — never charged again. One the gateway has no charge for after `give_up_after` seconds never reached
    it (the process stopped between writing the row and charging): failed, "not charged". A pending refund is sent
    again under its own key, which the gateway answers without refunding twice.
    """
    settled = 0
    async with pool.acquire() as connection:
        pending = await connection.fetch(
            """SELECT id, created_at < now() - make_interval(secs => $2) AS give_up FROM payments
                WHERE status = 'pending' AND created_at < now() - make_interval(secs => $1)
                ORDER BY created_at LIMIT 1000""",
            older_than,
            give_up_after,
        )
    for row in pending:
        try:
            charge = await gateway.find_charge(gateway_key(row["id"]))
        except (GatewayTimeout, GatewayUnavailable):
            log.warning("gateway unreachable while reconciling", payment_id=row["id"])
            continue
        if charge is not None:
            async with pool.acquire() as connection:
                await settle_payment(connection, row["id"], charge)
            settled += 1
        elif row["give_up"]:
            await _settle_as(pool, row["id"], PaymentStatus.FAILED, NOT_CHARGED, NOT_CHARGED_MESSAGE)
            settled += 1
    async with pool.acquire() as connection:
        refunds = await connection.fetch(
            """SELECT r.id, r.amount, p.gateway_charge_id FROM refunds r JOIN payments p ON p.id = r.payment_id
                WHERE r.status = 'pending' AND r.created_at < now() - make_interval(secs => $1)
                ORDER BY r.created_at LIMIT 1000""",
            older_than,
        )
    for row in refunds:
        if await send_refund(pool, gateway, row["id"], row["gateway_charge_id"], row["amount"]) != "pending":
            settled += 1
    return settled


_PAYMENT_ROWS = """
    SELECT p.id, p.number, p.created_at, p.settled_at, p.method_id, p.amount, p.status, p.source, p.failure_code,
           p.failure_message, coalesce(r.refunded, 0) AS refunded,
           m.kind, m.brand, m.last4, m.exp_month, m.exp_year, m.account_type, m.holder_name, m.billing_address,
           m.is_default, m.created_at AS method_created_at
      FROM payments p
      JOIN payment_methods m ON m.id = p.method_id
      LEFT JOIN LATERAL (SELECT sum(amount) AS refunded FROM refunds
                          WHERE payment_id = p.id AND status = 'succeeded') r ON true
     WHERE p.customer_id = $1
"""


def _payment_row(record: asyncpg.Record) -> PaymentRow:
    method = PaymentMethod(
        id=record["method_id"],
        kind=record["kind"],
        brand=record["brand"],
        last4=record["last4"],
        exp_month=record["exp_month"],
        exp_year=record["exp_year"],
        account_type=record["account_type"],
        holder_name=record["holder_name"],
        billing_address=record["billing_address"],
        is_default=record["is_default"],
        created_at=record["method_created_at"],
    )
    status = PaymentStatus(record["status"])
    refunded: Decimal = Decimal(record["refunded"]).quantize(ZERO)
    shown = status
    if status is PaymentStatus.SUCCEEDED and refunded > 0:
        shown = PaymentStatus.REFUNDED if refunded >= record["amount"] else PaymentStatus.PARTLY_REFUNDED
    return PaymentRow(
        id=record["id"],
        number=record["number"],
        created_at=record["created_at"],
        settled_at=record["settled_at"],
        method_id=record["method_id"],
        method_label=method.label,
        amount=record["amount"],
        status=shown,
        succeeded=status is PaymentStatus.SUCCEEDED,
        refunded=refunded,
        source=record["source"],
        failure_code=record["failure_code"],
        failure_message=record["failure_message"],
    )


async def list_payments(connection: Connection, scope: CustomerScope, *, limit: int = 100) -> list[PaymentRow]:
    """The scope's payments, newest first, every outcome (pending, declined and failed attempts too)."""
    rows = await connection.fetch(
        f"{_PAYMENT_ROWS} ORDER BY p.created_at DESC, p.id DESC LIMIT $2", scope.customer_id, limit
    )
    return [_payment_row(row) for row in rows]


async def payment_by_key(connection: Connection, scope: CustomerScope, idempotency_key: str) -> PaymentRow | None:
    """The payment a submission with this key made, if any (a second click finds the first's payment)."""
    row = await connection.fetchrow(f"{_PAYMENT_ROWS} AND p.idempotency_key = $2", scope.customer_id, idempotency_key)
    return None if row is None else _payment_row(row)


async def payment_detail(connection: Connection, scope: CustomerScope, payment_id: int) -> PaymentDetail:
    """One of the scope's payments with how it was applied and its refunds; NotFound for any other id."""
    row = await connection.fetchrow(f"{_PAYMENT_ROWS} AND p.id = $2", scope.customer_id, payment_id)
    if row is None:
        raise NotFound("No such payment.")
    allocations = await connection.fetch(
        """SELECT a.invoice_id, i.number, a.amount, a.reason, a.created_at
             FROM allocations a JOIN invoices i ON i.id = a.invoice_id
            WHERE a.payment_id = $1 ORDER BY a.id""",
        payment_id,
    )
    refunds = await connection.fetch(
        """SELECT id, amount, reason, status, failure_message, created_at, settled_at
             FROM refunds WHERE payment_id = $1 ORDER BY id""",
        payment_id,
    )
    payment = _payment_row(row)
    applied = sum((a["amount"] for a in allocations), ZERO)
    not_failed = sum((r["amount"] for r in refunds if r["status"] != "failed"), ZERO)
    return PaymentDetail(
        payment=payment,
        allocations=tuple(
            PaymentAllocation(a["invoice_id"], a["number"], a["amount"], a["reason"], a["created_at"])
            for a in allocations
        ),
        refunds=tuple(
            RefundRow(
                r["id"], r["amount"], r["reason"], r["status"], r["failure_message"], r["created_at"], r["settled_at"]
            )
            for r in refunds
        ),
        unapplied=payment.amount - payment.refunded - applied if payment.succeeded else ZERO,
        refundable=payment.amount - not_failed if payment.succeeded else ZERO,
    )
