"""The billing-notices queue job on real PostgreSQL: each notice becomes one composed mail in the outbox (a receipt with
its PDF), to the owner's login or the customer's address, and is deleted in the same transaction."""

from __future__ import annotations

import io
import secrets
from datetime import UTC, date, datetime, time
from decimal import Decimal
from typing import Any

import asyncpg
import pytest
from pypdf import PdfReader

from shared.billing.autopay import run_autopay, set_up_autopay
from shared.billing.gateway import CardDetails
from shared.billing.methods import add_payment_method
from shared.billing.notices import billing_notices_job
from shared.billing.payments import PaymentRequest, PaymentStatus, pay
from shared.billing.refunds import refund_payment
from shared.billing.sandbox import SandboxGateway
from shared.config import Config, load_config
from shared.db import Connection
from shared.jobs import QueueJob
from shared.scope import CustomerScope
from tests.portal.conftest import enrol
from tests.shared.billing.ledger_setup import (
    invoice,
    method_row,
    new_customer,
    settled_payment,
    settled_refund,
)
from tests.shared.billing.test_documents import cheap_password_hashing, payment_row  # noqa: F401 (a fixture)

D = Decimal
BRAND = {
    "ALARMHUB_PORTAL_COMPANY_NAME": "Acme Alarms",
    "ALARMHUB_PORTAL_LOGO_TEXT": "ACME",
    "ALARMHUB_PORTAL_COMPANY_PHONE": "+1 555 0199",
    "ALARMHUB_PORTAL_COMPANY_ADDRESS": "9 Elm Road, Shelbyville",
    "ALARMHUB_PORTAL_REMITTANCE_ADDRESS": "PO Box 4400, Shelbyville",
    "ALARMHUB_PORTAL_PUBLIC_URL": "https://portal.acme.example/",
}


@pytest.fixture
def config() -> Config:
    return load_config(None, environ=BRAND)


@pytest.fixture
def job(config: Config) -> QueueJob:
    return billing_notices_job(config)


async def notice(
    connection: Connection, kind: str, customer_id: int, payment_id: int | None, refund_id: int | None = None
) -> int:
    notice_id: int = await connection.fetchval(
        "INSERT INTO billing_notices (kind, customer_id, payment_id, refund_id) VALUES ($1, $2, $3, $4) RETURNING id",
        kind,
        customer_id,
        payment_id,
        refund_id,
    )
    return notice_id


async def take(db: asyncpg.Pool, job: QueueJob) -> bool:
    async with db.acquire() as connection, connection.transaction():
        return await job.take_one(connection)


async def outbox(db: asyncpg.Pool) -> list[dict[str, Any]]:
    async with db.acquire() as connection:
        rows = await connection.fetch("SELECT id, recipient, subject, body, html FROM outbox ORDER BY id")
        mails = [dict(row) for row in rows]
        for mail in mails:
            mail["attachments"] = [
                dict(a)
                for a in await connection.fetch(
                    "SELECT filename, content_type, content FROM outbox_attachments WHERE outbox_id = $1 "
                    "ORDER BY position",
                    mail["id"],
                )
            ]
    return mails


async def notices_left(db: asyncpg.Pool) -> int:
    async with db.acquire() as connection:
        count: int = await connection.fetchval("SELECT count(*) FROM billing_notices")
    return count


def pdf_text(content: bytes) -> str:
    return "\n".join(page.extract_text() or "" for page in PdfReader(io.BytesIO(content)).pages)


async def test_a_receipt_notice_becomes_a_mail_with_the_receipt_pdf(db: asyncpg.Pool, job: QueueJob) -> None:
    async with db.acquire() as connection:
        alpha = await enrol(connection, "alpha", "A1A1")
        method = await method_row(connection, alpha.customer_id)
        first = await invoice(connection, alpha.customer_id, "30.00", due=date(2026, 12, 10))
        second = await invoice(connection, alpha.customer_id, "15.00", due=date(2026, 12, 20))
        numbers = dict((row["id"], row["number"]) for row in await connection.fetch("SELECT id, number FROM invoices"))
        payment_id = await settled_payment(
            connection, alpha.customer_id, method, "50.00", [(first, D("30.00")), (second, D("15.00"))]
        )
        number = await connection.fetchval("SELECT number FROM payments WHERE id = $1", payment_id)
        await notice(connection, "receipt", alpha.customer_id, payment_id)
    assert job.name == "billing-notices"

    assert await take(db, job) is True
    [mail] = await outbox(db)
    assert mail["recipient"] == alpha.owner_email
    assert mail["subject"] == f"Acme Alarms receipt {number}: $50.00 paid"
    for part in (mail["body"], mail["html"]):
        assert "$50.00" in part and number in part and "Visa ending in 1111" in part
        assert numbers[first] in part and "$30.00" in part and numbers[second] in part and "$15.00" in part
        assert "Credit on your account" in part and "$5.00" in part
        assert "https://portal.acme.example/billing/receipts" in part
        assert "SANDBOX" in part
    assert f"Invoice {numbers[first]}: $30.00" in mail["body"] and "Customer alpha" in mail["body"]
    [attachment] = mail["attachments"]
    assert (attachment["filename"], attachment["content_type"]) == (f"receipt-{number}.pdf", "application/pdf")
    text = pdf_text(attachment["content"])
    assert number in text and f"Invoice {numbers[first]} $30.00" in text and "Credit on your account $5.00" in text
    assert "SANDBOX - NO REAL MONEY" in text and "Acme Alarms" in text

    assert await notices_left(db) == 0
    assert await take(db, job) is False  # nothing left: the worker idles


async def test_without_an_owner_login_the_mail_goes_to_the_customers_address_and_without_one_to_nobody(
    db: asyncpg.Pool, job: QueueJob
) -> None:
    async with db.acquire() as connection:
        on_record = await new_customer(connection, "Bravo")  # no login at all: bravo@example.com on its record
        silent = await new_customer(connection, "Charlie")
        await connection.execute("UPDATE customers SET email = '' WHERE id = $1", silent)
        unusable = await new_customer(connection, "Delta")  # the record's address is free text
        await connection.execute("UPDATE customers SET email = 'n/a' WHERE id = $1", unusable)
        for customer_id in (on_record, silent, unusable):
            method = await method_row(connection, customer_id)
            payment_id = await settled_payment(connection, customer_id, method, "12.00")
            await notice(connection, "receipt", customer_id, payment_id)

    assert await take(db, job) and await take(db, job) and await take(db, job)
    [mail] = await outbox(db)
    assert mail["recipient"] == "bravo@example.com" and "Hello Bravo," in mail["body"]
    assert "Credit on your account: $12.00" in mail["body"]
    assert await notices_left(db) == 0  # the one nobody can be told of is dropped (and logged), not retried for ever


async def test_a_receipt_notice_for_a_payment_that_did_not_succeed_sends_nothing(
    db: asyncpg.Pool, job: QueueJob
) -> None:
    async with db.acquire() as connection:
        alpha = await enrol(connection, "alpha", "A1A1")
        method = await method_row(connection, alpha.customer_id)
        declined = await payment_row(connection, alpha.customer_id, method, "10.00", status="declined")
        await notice(connection, "receipt", alpha.customer_id, declined)
        beta = await enrol(connection, "beta", "B2B2")  # a notice naming another customer's payment
        paid = await settled_payment(connection, alpha.customer_id, method, "10.00")
        await notice(connection, "receipt", beta.customer_id, paid)
    assert await take(db, job) and await take(db, job)
    assert await outbox(db) == [] and await notices_left(db) == 0


async def test_a_refund_notice_says_how_much_went_back_and_which_invoices_are_due_again(
    db: asyncpg.Pool, job: QueueJob
) -> None:
    async with db.acquire() as connection:
        alpha = await enrol(connection, "alpha", "A1A1")
        method = await method_row(connection, alpha.customer_id)
        invoice_id = await invoice(connection, alpha.customer_id, "30.00")
        payment_id = await settled_payment(connection, alpha.customer_id, method, "50.00", [(invoice_id, D("30.00"))])
        # 25.00 back: the 20.00 of credit first, then 5.00 from the invoice, which is due again.
        refund_id = await settled_refund(connection, alpha.customer_id, payment_id, "25.00")
        await notice(connection, "refund", alpha.customer_id, payment_id, refund_id)
        number = await connection.fetchval("SELECT number FROM payments WHERE id = $1", payment_id)
        invoice_number = await connection.fetchval("SELECT number FROM invoices WHERE id = $1", invoice_id)

    assert await take(db, job)
    [mail] = await outbox(db)
    assert mail["recipient"] == alpha.owner_email
    assert mail["subject"] == f"Acme Alarms: $25.00 refunded (receipt {number})"
    assert "We refunded $25.00 of your payment" in mail["body"] and "Visa ending in 1111" in mail["body"]
    assert f"Invoice {invoice_number}: $5.00" in mail["body"] and "due again" in mail["body"]
    assert "https://portal.acme.example/billing/payments" in mail["html"] and "$25.00" in mail["html"]
    assert mail["attachments"] == []


async def autopay_attempt(
    connection: Connection, customer_id: int, method: int, *, draft_status: str, attempts: int, retry_in_days: float
) -> int:
    """An autopay draft for December 2026 whose latest attempt was declined, as the autopay job leaves it."""
    await connection.execute(
        "INSERT INTO autopay (customer_id, method_id, draft_day, starts_period) VALUES ($1, $2, 5, '2026-12-01')",
        customer_id,
        method,
    )
    payment_id = await payment_row(
        connection, customer_id, method, "45.50", status="declined", failure_message="Your card has insufficient funds."
    )
    await connection.execute(
        "INSERT INTO autopay_drafts (customer_id, period, status, amount, attempts, next_attempt_at, payment_id, "
        "last_error) VALUES ($1, '2026-12-01', $2, 45.50, $3, now() + make_interval(days => $4), $5, "
        "'Your card has insufficient funds.')",
        customer_id,
        draft_status,
        attempts,
        retry_in_days,
        payment_id,
    )
    return payment_id


async def test_a_declined_draft_says_why_and_when_it_is_tried_again(db: asyncpg.Pool, job: QueueJob) -> None:
    async with db.acquire() as connection:
        alpha = await enrol(connection, "alpha", "A1A1")
        method = await method_row(connection, alpha.customer_id)
        payment_id = await autopay_attempt(
            connection, alpha.customer_id, method, draft_status="due", attempts=1, retry_in_days=2
        )
        await notice(connection, "autopay_declined", alpha.customer_id, payment_id)
        retry_on: date = await connection.fetchval(
            "SELECT (next_attempt_at AT TIME ZONE 'UTC')::date FROM autopay_drafts"
        )

    assert await take(db, job)
    [mail] = await outbox(db)
    assert mail["subject"] == "Acme Alarms: your automatic payment was declined"
    body = mail["body"]
    assert "Your automatic payment of $45.50 from Visa ending in 1111" in body and "was declined" in body
    assert "Reason: Your card has insufficient funds." in body and "card_declined" not in body
    assert f"We will try again on {retry_on:%B} {retry_on.day}, {retry_on.year}." in body
    assert "https://portal.acme.example/billing/payment-methods" in body
    assert 'href="https://portal.acme.example/billing/payment-methods"' in mail["html"]


async def test_a_declined_draft_that_will_not_be_tried_again_says_so(db: asyncpg.Pool, job: QueueJob) -> None:
    async with db.acquire() as connection:
        alpha = await enrol(connection, "alpha", "A1A1")
        method = await method_row(connection, alpha.customer_id)
        payment_id = await autopay_attempt(
            connection, alpha.customer_id, method, draft_status="stopped", attempts=3, retry_in_days=0
        )
        await notice(connection, "autopay_declined", alpha.customer_id, payment_id)
    assert await take(db, job)
    [mail] = await outbox(db)
    assert "We will not try again this month" in mail["body"] and "try again on" not in mail["body"]


async def test_a_stopped_draft_says_the_month_the_balance_and_that_autopay_stays_on(
    db: asyncpg.Pool, job: QueueJob
) -> None:
    async with db.acquire() as connection:
        alpha = await enrol(connection, "alpha", "A1A1")
        method = await method_row(connection, alpha.customer_id)
        await invoice(connection, alpha.customer_id, "45.50", period=date(2026, 12, 1))
        payment_id = await autopay_attempt(
            connection, alpha.customer_id, method, draft_status="stopped", attempts=3, retry_in_days=0
        )
        await notice(connection, "autopay_stopped", alpha.customer_id, payment_id)

    assert await take(db, job)
    [mail] = await outbox(db)
    assert mail["subject"] == "Acme Alarms: automatic payment stopped for December 2026"
    body = mail["body"]
    assert "Your automatic payment for December 2026 did not go through after 3 tries" in body
    assert "Your balance due is $45.50" in body and "https://portal.acme.example/billing/pay" in body
    assert "Autopay stays on and drafts again next month" in body
    assert "Last reason: Your card has insufficient funds." in body
    assert "$45.50" in mail["html"] and "December 2026" in mail["html"]


async def test_workers_take_different_notices_and_never_the_same_one(db: asyncpg.Pool, job: QueueJob) -> None:
    async with db.acquire() as connection:
        alpha = await enrol(connection, "alpha", "A1A1")
        beta = await enrol(connection, "beta", "B2B2")
        for customer in (alpha, beta):
            method = await method_row(connection, customer.customer_id)
            payment_id = await settled_payment(connection, customer.customer_id, method, "10.00")
            await notice(connection, "receipt", customer.customer_id, payment_id)

    first, second = await db.acquire(), await db.acquire()
    try:
        one, two = first.transaction(), second.transaction()
        await one.start()
        await two.start()
        # The first worker holds the oldest notice (its transaction is still open); the second skips it.
        assert await job.take_one(first) and await job.take_one(second)
        await two.commit()
        await one.commit()
    finally:
        await db.release(first)
        await db.release(second)
    mails = await outbox(db)
    assert sorted(mail["recipient"] for mail in mails) == [alpha.owner_email, beta.owner_email]
    assert await notices_left(db) == 0 and await take(db, job) is False


async def test_a_notice_rolled_back_with_its_transaction_stays_for_the_next_try(
    db: asyncpg.Pool, job: QueueJob
) -> None:
    async with db.acquire() as connection:
        alpha = await enrol(connection, "alpha", "A1A1")
        method = await method_row(connection, alpha.customer_id)
        payment_id = await settled_payment(connection, alpha.customer_id, method, "10.00")
        await notice(connection, "receipt", alpha.customer_id, payment_id)
    with pytest.raises(RuntimeError):
        async with db.acquire() as connection, connection.transaction():
            assert await job.take_one(connection)
            raise RuntimeError("the worker died before the commit")
    assert await outbox(db) == [] and await notices_left(db) == 1
    assert await take(db, job)
    assert len(await outbox(db)) == 1 and await notices_left(db) == 0


async def test_a_payment_and_a_refund_through_the_sandbox_are_mailed_to_the_owner(
    db: asyncpg.Pool, job: QueueJob
) -> None:
    """The whole path: a card added and charged through the real sandbox gateway, the ledger settling it (which
    writes the notices), then this job; the card's number reaches no mail (and the suite's secrets scan checks
    the outbox and the PDF too)."""
    gateway = SandboxGateway(db, timeout=5.0)
    async with db.acquire() as connection:
        alpha = await enrol(connection, "alpha", "A1A1")
        invoice_id = await invoice(connection, alpha.customer_id, "39.95", period=date(2026, 12, 1))
        invoice_number = await connection.fetchval("SELECT number FROM invoices WHERE id = $1", invoice_id)
    scope = CustomerScope(alpha.customer_id, alpha.owner_id)
    details = CardDetails("4242424242424242", 12, 2030, "123", "Pat Doe", "1 Main St, Springfield")
    method = await add_payment_method(db, gateway, scope, details, make_default=True, terms_accepted=True)
    request = PaymentRequest(
        customer_id=alpha.customer_id,
        method_id=method.id,
        amount=D("50.00"),
        requested=None,
        invoice_ids=[invoice_id],
        idempotency_key=secrets.token_urlsafe(24),
        source="portal",
        created_by=alpha.owner_id,
    )
    outcome = await pay(db, gateway, request)
    assert outcome.status is PaymentStatus.SUCCEEDED
    await refund_payment(
        db,
        gateway,
        scope=scope,
        payment_id=outcome.payment_id,
        amount=D("20.00"),
        reason="Goodwill",
        idempotency_key=secrets.token_urlsafe(24),
        created_by=None,
    )

    while await take(db, job):
        pass
    receipt, refund = await outbox(db)
    assert receipt["recipient"] == refund["recipient"] == alpha.owner_email
    assert receipt["subject"] == f"Acme Alarms receipt {outcome.number}: $50.00 paid"
    # The receipt is composed from the ledger as it is when the job runs: the refund came first here, and took the
    # 10.05 of credit first, then 9.95 back from the invoice. The receipt says so rather than a stale picture.
    assert f"Invoice {invoice_number}: $30.00" in receipt["body"] and "Refunded: $20.00" in receipt["body"]
    assert "Credit on your account" not in receipt["body"]
    text = pdf_text(receipt["attachments"][0]["content"])
    assert outcome.number in text and f"Invoice {invoice_number} $30.00" in text and "Visa ending in 4242" in text
    assert "Refunded $20.00" in text and "Total paid $50.00" in text
    assert refund["subject"] == f"Acme Alarms: $20.00 refunded (receipt {outcome.number})"
    assert f"Invoice {invoice_number}: $9.95" in refund["body"] and "Reason: Goodwill" in refund["body"]
    for mail in (receipt, refund):
        assert "4242424242424242" not in mail["body"] + mail["html"] and "4242 4242" not in mail["body"]


async def test_a_notice_that_cannot_be_composed_is_set_aside_and_logged_not_left_to_block_the_queue(
    db: asyncpg.Pool, job: QueueJob, caplog: pytest.LogCaptureFixture
) -> None:
    async with db.acquire() as connection:
        alpha = await enrol(connection, "alpha", "A1A1")
        method = await method_row(connection, alpha.customer_id)
        # A payment number no file name can carry (numbers come from a sequence; this one was typed by hand):
        # the receipt's attachment refuses it.
        odd = await settled_payment(connection, alpha.customer_id, method, "10.00")
        await connection.execute("ALTER TABLE payments DISABLE TRIGGER payments_settle_once")
        await connection.execute("UPDATE payments SET number = 'PAY/1' WHERE id = $1", odd)
        await connection.execute("ALTER TABLE payments ENABLE TRIGGER payments_settle_once")
        await notice(connection, "receipt", alpha.customer_id, odd)
        fine = await settled_payment(connection, alpha.customer_id, method, "20.00")
        await notice(connection, "receipt", alpha.customer_id, fine)

    assert await take(db, job) and await take(db, job)
    [mail] = await outbox(db)
    assert "$20.00" in mail["subject"]
    assert "could not be composed" in caplog.text
    # The mail is still owed: the notice is kept with its error, and the queue no longer offers it.
    [kept] = await db.fetch("SELECT payment_id, failed_at, error FROM billing_notices")
    assert kept["payment_id"] == odd and kept["failed_at"] is not None and kept["error"]
    assert not await take(db, job)


async def test_autopay_declines_through_the_sandbox_are_mailed_with_the_retry_then_the_stop(
    db: asyncpg.Pool, job: QueueJob
) -> None:
    """The autopay job's own rows (a declining sandbox card, one retry) composed by this job."""
    gateway = SandboxGateway(db, timeout=5.0)
    async with db.acquire() as connection:
        alpha = await enrol(connection, "alpha", "A1A1")
        await invoice(connection, alpha.customer_id, "45.00", due=date(2027, 1, 10))
    scope = CustomerScope(alpha.customer_id, alpha.owner_id)
    details = CardDetails("4000000000000002", 12, 2030, "123", "Pat Doe", "1 Main St, Springfield")
    method = await add_payment_method(db, gateway, scope, details, make_default=True, terms_accepted=True)
    async with db.acquire() as connection:
        await set_up_autopay(connection, scope, method_id=method.id, draft_day=5, today=date(2026, 12, 20))

    async def autopay_run(day: date) -> None:
        await run_autopay(
            db,
            gateway,
            today=day,
            now=datetime.combine(day, time(12), UTC),
            retries=1,
            retry_hours=48,
            reconcile_after=60,
        )

    await autopay_run(date(2027, 1, 5))
    assert await take(db, job) and not await take(db, job)
    [declined] = await outbox(db)
    assert declined["recipient"] == alpha.owner_email
    assert declined["subject"] == "Acme Alarms: your automatic payment was declined"
    assert "Your automatic payment of $45.00 from Visa ending in 0002" in declined["body"]
    assert "We will try again on January 7, 2027." in declined["body"]

    await autopay_run(date(2027, 1, 7))
    assert await take(db, job) and not await take(db, job)
    stopped = (await outbox(db))[-1]
    assert stopped["subject"] == "Acme Alarms: automatic payment stopped for January 2027"
    assert "did not go through after 2 tries" in stopped["body"] and "Your balance due is $45.00" in stopped["body"]
    assert "Autopay stays on" in stopped["body"]
