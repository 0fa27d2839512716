"""The billing-notices queue job: each billing_notices row becomes one composed mail (a receipt with its PDF) in the
outbox, in the transaction that deletes the row."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

import asyncpg
from asyncpg.pool import PoolConnectionProxy

from shared.billing.documents import method_label, receipt_document
from shared.billing.money import format_money
from shared.billing.pdf import long_date, month_name, receipt_pdf
from shared.branding import Branding
from shared.config import Config
from shared.db import Connection
from shared.errors import NotFound
from shared.jobs import QueueJob
from shared.logs import get_logger
from shared.mail import Attachment
from shared.messages import AUTOPAY_DECLINED, AUTOPAY_STOPPED, PAYMENT_RECEIPT, REFUND_ISSUED, MessageKind, queue_mail
from shared.scope import CustomerScope

log = get_logger(__name__)

JOB_NAME = "billing-notices"

_CLAIM = """
    SELECT id, kind, customer_id, payment_id, refund_id
      FROM billing_notices
     WHERE failed_at IS NULL
     ORDER BY id
     LIMIT 1
       FOR UPDATE SKIP LOCKED
"""

# The owner's login is who manages the account; a customer without one (staff enrolled it, nobody registered yet)
# is written to at the address on its record.
_RECIPIENT = """
    SELECT c.name AS customer_name, c.email AS customer_email, u.id AS owner_id, u.email AS owner_email,
           u.name AS owner_name
      FROM customers c LEFT JOIN users u ON u.customer_id = c.id AND u.role = 'owner'
     WHERE c.id = $1
"""

_REFUND = """
    SELECT r.amount, r.reason, r.status, p.number, (p.settled_at AT TIME ZONE $3)::date AS payment_date,
           m.kind, m.brand, m.last4, m.account_type, m.gateway
      FROM refunds r
      JOIN payments p ON p.id = r.payment_id
      JOIN payment_methods m ON m.id = p.method_id
     WHERE r.id = $1 AND p.customer_id = $2
"""

# What a refund took back from invoices (negative allocations), per invoice: those are due again.
_REOPENED = """
    SELECT i.number, -sum(a.amount) AS amount
      FROM allocations a JOIN invoices i ON i.id = a.invoice_id
     WHERE a.refund_id = $1
     GROUP BY i.id, i.number
     ORDER BY min(a.id)
"""

_ATTEMPT = """
    SELECT p.amount, p.status, p.failure_code, p.failure_message, (p.created_at AT TIME ZONE $3)::date AS tried_on,
           m.kind, m.brand, m.last4, m.account_type
      FROM payments p JOIN payment_methods m ON m.id = p.method_id
     WHERE p.id = $1 AND p.customer_id = $2
"""

# The draft a declined attempt belongs to (it names its latest attempt); when the draft has moved on to a newer
# attempt already, or the notice names no payment, the customer's latest draft is the one that matters.
_DRAFT = """
    SELECT period, status, amount, attempts, last_error,
           (greatest(next_attempt_at, now()) AT TIME ZONE $3)::date AS next_on
      FROM autopay_drafts
     WHERE customer_id = $1
     ORDER BY payment_id IS NOT DISTINCT FROM $2 DESC, period DESC
     LIMIT 1
"""

_BALANCE_DUE = """
    SELECT coalesce(sum(i.total - coalesce((SELECT sum(a.amount) FROM allocations a WHERE a.invoice_id = i.id), 0)), 0)
      FROM invoices i
     WHERE i.customer_id = $1 AND i.voided_at IS NULL
"""


@dataclass(frozen=True, slots=True)
class _Mail:
    """A composed notice, before it is queued."""

    kind: MessageKind
    context: dict[str, Any]
    attachments: tuple[Attachment, ...] = ()


@dataclass(frozen=True, slots=True)
class _Setting:
    branding: Branding
    currency: str
    timezone: str

    def money(self, amount: Decimal) -> str:
        return format_money(amount, self.currency)


def billing_notices_job(config: Config) -> QueueJob:
    """The worker's job that turns billing notices into mail; any number of workers may run it."""
    setting = _Setting(Branding.from_config(config), config["billing.currency"], config["portal.timezone"])

    async def take_one(connection: PoolConnectionProxy[asyncpg.Record]) -> bool:
        return await send_one_notice(connection, setting.branding, currency=setting.currency, timezone=setting.timezone)

    return QueueJob(JOB_NAME, take_one, idle_interval=float(config["email.poll_interval"]))


async def send_one_notice(
    connection: Connection, branding: Branding, *, currency: str = "USD", timezone: str = "UTC"
) -> bool:
    """Claim the oldest unclaimed notice, queue its mail and delete it, in the caller's transaction; False if none."""
    notice = await connection.fetchrow(_CLAIM)
    if notice is None:
        return False
    setting = _Setting(branding, currency, timezone)
    where = {"notice_id": notice["id"], "kind": notice["kind"], "customer_id": notice["customer_id"]}
    recipient = await connection.fetchrow(_RECIPIENT, notice["customer_id"])
    address = recipient and (recipient["owner_email"] or recipient["customer_email"].strip())
    if recipient is None or not address or "@" not in address:  # the customer record's address is free text
        log.warning("billing notice dropped: the customer has no e-mail address", **where)
    else:
        try:
            async with connection.transaction():  # a savepoint: a notice that cannot be composed writes nothing
                mail = await _COMPOSERS[notice["kind"]](connection, setting, notice)
                if mail is not None:
                    name = (recipient["owner_name"] if recipient["owner_email"] else "") or recipient["customer_name"]
                    outbox_id = await queue_mail(
                        connection,
                        branding,
                        mail.kind,
                        recipient=address,
                        context={"name": name, **mail.context},
                        attachments=mail.attachments,
                    )
                    log.info("billing notice mailed", outbox_id=outbox_id, **where)
        except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError):
            raise  # the database: the notice stays and is tried again
        except Exception as error:
            # A notice that cannot be composed (a bug, a row the templates do not expect) would otherwise come back
            # at the head of the queue for ever and hold every later customer's mail behind it. It is set aside, not
            # deleted: the mail is owed, and clearing failed_at once the cause is fixed sends it.
            log.exception("billing notice set aside: it could not be composed", **where)
            await connection.execute(
                "UPDATE billing_notices SET failed_at = now(), error = $2 WHERE id = $1",
                notice["id"],
                f"{type(error).__name__}: {error}"[:500],
            )
            return True
    await connection.execute("DELETE FROM billing_notices WHERE id = $1", notice["id"])
    return True


async def _receipt(connection: Connection, setting: _Setting, notice: asyncpg.Record) -> _Mail | None:
    scope = CustomerScope(notice["customer_id"], None)
    try:
        receipt = await receipt_document(connection, scope, notice["payment_id"], timezone=setting.timezone)
    except NotFound:
        log.warning("billing notice dropped: no succeeded payment to receipt", notice_id=notice["id"])
        return None
    pdf = receipt_pdf(receipt, setting.branding, currency=setting.currency)
    context = {
        "receipt": receipt,
        "number": receipt.number,
        "amount": setting.money(receipt.amount),
        "date": long_date(receipt.settled_on),
        "method": receipt.method_label,
        "applied": [{"invoice": line.invoice_number, "amount": setting.money(line.amount)} for line in receipt.applied],
        "credit": setting.money(receipt.credit) if receipt.credit > 0 else "",
        "refunded": setting.money(receipt.refunded) if receipt.refunded > 0 else "",
        "sandbox": receipt.sandbox,
        "autopay": receipt.source == "autopay",
    }
    attachment = Attachment(f"receipt-{receipt.number}.pdf", "application/pdf", pdf)
    return _Mail(PAYMENT_RECEIPT, context, (attachment,))


async def _refund(connection: Connection, setting: _Setting, notice: asyncpg.Record) -> _Mail | None:
    row = await connection.fetchrow(_REFUND, notice["refund_id"], notice["customer_id"], setting.timezone)
    if row is None or row["status"] != "succeeded":
        log.warning("billing notice dropped: no succeeded refund", notice_id=notice["id"])
        return None
    reopened = await connection.fetch(_REOPENED, notice["refund_id"])
    context = {
        "number": row["number"],
        "amount": setting.money(row["amount"]),
        "payment_date": long_date(row["payment_date"]),
        "method": method_label(row["kind"], row["brand"], row["last4"], row["account_type"]),
        "reason": " ".join(row["reason"].split()),
        "reopened": [{"invoice": r["number"], "amount": setting.money(r["amount"])} for r in reopened],
        "sandbox": row["gateway"] == "sandbox",
    }
    return _Mail(REFUND_ISSUED, context)


def _reason(attempt: asyncpg.Record | None, draft: asyncpg.Record | None) -> str:
    """Why a draft did not go through, in the gateway's words (a decline message never holds a card number)."""
    if attempt is not None and attempt["failure_message"]:
        return str(attempt["failure_message"])
    if draft is not None and draft["last_error"]:
        return str(draft["last_error"])
    return "the payment was not accepted"


async def _autopay_declined(connection: Connection, setting: _Setting, notice: asyncpg.Record) -> _Mail | None:
    customer_id = notice["customer_id"]
    attempt = await connection.fetchrow(_ATTEMPT, notice["payment_id"], customer_id, setting.timezone)
    if attempt is None or attempt["status"] not in ("declined", "failed"):
        log.warning("billing notice dropped: no declined autopay payment", notice_id=notice["id"])
        return None
    draft = await connection.fetchrow(_DRAFT, customer_id, notice["payment_id"], setting.timezone)
    retrying = draft is not None and draft["status"] == "due"
    context = {
        "amount": setting.money(attempt["amount"]),
        "date": long_date(attempt["tried_on"]),
        "method": method_label(attempt["kind"], attempt["brand"], attempt["last4"], attempt["account_type"]),
        "reason": _reason(attempt, draft),
        "next_try": long_date(draft["next_on"]) if retrying and draft is not None else "",
    }
    return _Mail(AUTOPAY_DECLINED, context)


async def _autopay_stopped(connection: Connection, setting: _Setting, notice: asyncpg.Record) -> _Mail | None:
    customer_id = notice["customer_id"]
    draft = await connection.fetchrow(_DRAFT, customer_id, notice["payment_id"], setting.timezone)
    if draft is None:
        log.warning("billing notice dropped: no autopay draft", notice_id=notice["id"])
        return None
    attempt = None
    if notice["payment_id"] is not None:
        attempt = await connection.fetchrow(_ATTEMPT, notice["payment_id"], customer_id, setting.timezone)
    balance: Decimal = await connection.fetchval(_BALANCE_DUE, customer_id)
    autopay_on = await connection.fetchval("SELECT EXISTS (SELECT 1 FROM autopay WHERE customer_id = $1)", customer_id)
    period: date = draft["period"]
    context = {
        "month": month_name(period),
        "attempts": int(draft["attempts"]),
        "amount": setting.money(draft["amount"]) if draft["amount"] is not None else "",
        "reason": _reason(attempt, draft),
        "balance": setting.money(balance) if balance > 0 else "",
        "autopay_on": bool(autopay_on),
    }
    return _Mail(AUTOPAY_STOPPED, context)


_Composer = Callable[[Connection, _Setting, asyncpg.Record], Awaitable[_Mail | None]]
_COMPOSERS: dict[str, _Composer] = {
    "receipt": _receipt,
    "refund": _refund,
    "autopay_declined": _autopay_declined,
    "autopay_stopped": _autopay_stopped,
}
