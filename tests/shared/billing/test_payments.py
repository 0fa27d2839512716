"""shared.billing.payments on the real sandbox gateway and PostgreSQL: once per key, settling, reconcile, refunds."""

from __future__ import annotations

import asyncio
import secrets
from datetime import date
from decimal import Decimal

import asyncpg
import pytest

from shared.billing.gateway import CardDetails
from shared.billing.ledger import balance_due, credit_available, ledger_problems
from shared.billing.methods import add_payment_method, remove_method
from shared.billing.payments import (
    NOT_CHARGED,
    PaymentRequest,
    PaymentStatus,
    gateway_key,
    list_payments,
    pay,
    payment_by_key,
    payment_detail,
    reconcile_pending,
    refund_payment,
)
from shared.billing.sandbox import SandboxGateway
from shared.errors import Conflict, DomainError, NotFound
from shared.scope import CustomerScope
from tests.shared.billing.ledger_setup import (
    invoice,
    new_customer,
)

D = Decimal
GOOD, DECLINED, FAILS, SLOW = "4242424242424242", "4000000000000002", "4000000000000119", "4000000000003220"


def key() -> str:
    return secrets.token_urlsafe(24)


async def card(db: asyncpg.Pool, gateway: SandboxGateway, customer: int, number: str = GOOD) -> int:
    details = CardDetails(number, 12, 2030, "123", "Pat Doe", "1 Main St, Springfield")
    method = await add_payment_method(
        db, gateway, CustomerScope(customer, None), details, make_default=False, terms_accepted=True
    )
    return method.id


def request(
    customer: int,
    method: int,
    amount: str,
    invoices: list[int],
    *,
    idempotency_key: str | None = None,
    requested: dict[int, Decimal] | None = None,
) -> PaymentRequest:
    return PaymentRequest(
        customer_id=customer,
        method_id=method,
        amount=D(amount),
        requested=requested,
        invoice_ids=invoices,
        idempotency_key=idempotency_key or key(),
        source="portal",
        created_by=None,
    )


async def count(db: asyncpg.Pool, query: str, *args: object) -> int:
    async with db.acquire() as connection:
        value: int = await connection.fetchval(query, *args)
        return value


@pytest.fixture
def gateway(db: asyncpg.Pool) -> SandboxGateway:
    return SandboxGateway(db, timeout=5.0)


async def test_a_payment_is_charged_applied_and_receipted(db: asyncpg.Pool, gateway: SandboxGateway) -> None:
    async with db.acquire() as connection:
        customer = await new_customer(connection)
        older = await invoice(connection, customer, "30.00", due=date(2026, 12, 5))
        newer = await invoice(connection, customer, "30.00", due=date(2026, 12, 20))
    method = await card(db, gateway, customer)
    outcome = await pay(db, gateway, request(customer, method, "40.00", [older, newer]))
    assert outcome.status is PaymentStatus.SUCCEEDED and not outcome.repeated
    assert outcome.number.startswith("PAY-")
    assert (outcome.failure_code, outcome.failure_message) == ("", "")
    async with db.acquire() as connection:
        scope = CustomerScope(customer, None)
        detail = await payment_detail(connection, scope, outcome.payment_id)
        assert [(a.invoice_id, a.amount, a.reason) for a in detail.allocations] == [
            (older, D("30.00"), "payment"),
            (newer, D("10.00"), "payment"),
        ]
        assert detail.payment.method_label == "Visa ending in 4242 (expires 12/2030)"
        assert detail.payment.succeeded and detail.payment.settled_at is not None
        assert (detail.unapplied, detail.refundable) == (D("0.00"), D("40.00"))
        assert await balance_due(connection, customer) == D("20.00")
        charges = await connection.fetch("SELECT idempotency_key, amount, status FROM sandbox_charges")
        assert [tuple(c) for c in charges] == [(gateway_key(outcome.payment_id), D("40.00"), "succeeded")]
        notices = await connection.fetch("SELECT kind, customer_id, payment_id, refund_id FROM billing_notices")
        assert [tuple(n) for n in notices] == [("receipt", customer, outcome.payment_id, None)]
        assert await ledger_problems(connection) == []


async def test_only_the_ticked_invoices_and_the_requested_amounts(db: asyncpg.Pool, gateway: SandboxGateway) -> None:
    async with db.acquire() as connection:
        customer = await new_customer(connection)
        oldest = await invoice(connection, customer, "30.00", due=date(2026, 12, 1))
        middle = await invoice(connection, customer, "30.00", due=date(2026, 12, 10))
        newest = await invoice(connection, customer, "30.00", due=date(2026, 12, 20))
    method = await card(db, gateway, customer)
    # Ticked: middle and newest (not the oldest); 5.00 asked for the newest, the rest to the middle, then credit.
    outcome = await pay(
        db, gateway, request(customer, method, "50.00", [newest, middle], requested={newest: D("5.00")})
    )
    async with db.acquire() as connection:
        detail = await payment_detail(connection, CustomerScope(customer, None), outcome.payment_id)
        assert [(a.invoice_id, a.amount) for a in detail.allocations] == [(middle, D("30.00")), (newest, D("5.00"))]
        assert detail.unapplied == D("15.00")
        assert await credit_available(connection, customer) == D("15.00")
        assert await balance_due(connection, customer) == D("55.00")  # the oldest untouched: 30 + 25
        assert oldest not in {a.invoice_id for a in detail.allocations}


async def test_refused_requests_charge_nothing(db: asyncpg.Pool, gateway: SandboxGateway) -> None:
    async with db.acquire() as connection:
        customer = await new_customer(connection)
        other = await new_customer(connection, "Beta")
        bill = await invoice(connection, customer, "30.00")
    method = await card(db, gateway, customer)
    theirs = await card(db, gateway, other)
    with pytest.raises(DomainError) as caught:
        await pay(db, gateway, request(customer, method, "10.00", [bill], requested={bill: D("30.01")}))
    assert caught.value.field == "allocation"
    with pytest.raises(DomainError) as caught:
        await pay(db, gateway, request(customer, method, "0.001", [bill]))
    assert caught.value.field == "amount"
    with pytest.raises(DomainError) as caught:
        await pay(db, gateway, request(customer, method, "1.00", [bill], idempotency_key="short"))
    with pytest.raises(NotFound):  # another customer's card
        await pay(db, gateway, request(customer, theirs, "10.00", [bill]))
    async with db.acquire() as connection:
        await remove_method(connection, CustomerScope(customer, None), method)
    with pytest.raises(NotFound):  # a removed card
        await pay(db, gateway, request(customer, method, "10.00", [bill]))
    assert await count(db, "SELECT count(*) FROM payments") == 0
    assert await count(db, "SELECT count(*) FROM sandbox_charges") == 0


async def test_two_submissions_with_one_key_make_one_payment_and_one_charge(
    db: asyncpg.Pool, gateway: SandboxGateway
) -> None:
    async with db.acquire() as connection:
        customer = await new_customer(connection)
        bill = await invoice(connection, customer, "30.00")
    method = await card(db, gateway, customer)
    submission = request(customer, method, "30.00", [bill])
    first, second = await asyncio.gather(pay(db, gateway, submission), pay(db, gateway, submission))
    assert first.payment_id == second.payment_id and first.number == second.number
    assert sorted([first.repeated, second.repeated]) == [False, True]
    # And once more later (a refresh): the same payment, settled, nothing charged.
    again = await pay(db, gateway, submission)
    assert (again.payment_id, again.status, again.repeated) == (first.payment_id, PaymentStatus.SUCCEEDED, True)
    assert await count(db, "SELECT count(*) FROM payments") == 1
    assert await count(db, "SELECT count(*) FROM sandbox_charges") == 1
    assert await count(db, "SELECT count(*) FROM billing_notices") == 1
    async with db.acquire() as connection:
        assert await balance_due(connection, customer) == 0
        assert await credit_available(connection, customer) == 0
        found = await payment_by_key(connection, CustomerScope(customer, None), submission.idempotency_key)
        assert found is not None and found.id == first.payment_id
        other = await new_customer(connection, "Beta")
        assert await payment_by_key(connection, CustomerScope(other, None), submission.idempotency_key) is None


async def test_a_timed_out_charge_stays_pending_and_is_reconciled_once(db: asyncpg.Pool) -> None:
    gateway = SandboxGateway(db, timeout=0.2)
    async with db.acquire() as connection:
        customer = await new_customer(connection)
        bill = await invoice(connection, customer, "30.00")
    method = await card(db, gateway, customer, SLOW)
    submission = request(customer, method, "30.00", [bill])
    outcome = await pay(db, gateway, submission)
    assert outcome.status is PaymentStatus.PENDING
    async with db.acquire() as connection:
        # The money moved at the gateway, but nothing is applied until its answer is known.
        assert await balance_due(connection, customer) == D("30.00")
        assert await connection.fetchval("SELECT status FROM sandbox_charges") == "succeeded"
        listed = await list_payments(connection, CustomerScope(customer, None))
        assert [(p.id, p.status, p.succeeded) for p in listed] == [(outcome.payment_id, PaymentStatus.PENDING, False)]
    # A second submission of the same form while pending: the same payment, never a second charge.
    assert (await pay(db, gateway, submission)).repeated
    # Too young to be asked about yet.
    assert await reconcile_pending(db, gateway, older_than=3600, give_up_after=86400) == 0
    assert await reconcile_pending(db, gateway, older_than=0, give_up_after=86400) == 1
    assert await reconcile_pending(db, gateway, older_than=0, give_up_after=86400) == 0
    async with db.acquire() as connection:
        detail = await payment_detail(connection, CustomerScope(customer, None), outcome.payment_id)
        assert detail.payment.status is PaymentStatus.SUCCEEDED
        assert [(a.invoice_id, a.amount) for a in detail.allocations] == [(bill, D("30.00"))]
        assert await balance_due(connection, customer) == 0
        assert await connection.fetchval("SELECT count(*) FROM sandbox_charges") == 1
        assert await connection.fetchval("SELECT count(*) FROM billing_notices WHERE kind = 'receipt'") == 1
        assert await ledger_problems(connection) == []


async def test_concurrent_reconciles_settle_once(db: asyncpg.Pool) -> None:
    gateway = SandboxGateway(db, timeout=0.2)
    async with db.acquire() as connection:
        customer = await new_customer(connection)
        bill = await invoice(connection, customer, "30.00")
    method = await card(db, gateway, customer, SLOW)
    outcome = await pay(db, gateway, request(customer, method, "30.00", [bill]))
    assert outcome.status is PaymentStatus.PENDING
    results = await asyncio.gather(
        *(reconcile_pending(db, gateway, older_than=0, give_up_after=86400) for _ in range(3))
    )
    assert sum(results) >= 1
    async with db.acquire() as connection:
        assert await connection.fetchval("SELECT count(*) FROM allocations") == 1
        assert await connection.fetchval("SELECT count(*) FROM billing_notices") == 1
        assert await ledger_problems(connection) == []


async def test_a_payment_that_never_reached_the_gateway_fails_after_give_up(
    db: asyncpg.Pool, gateway: SandboxGateway
) -> None:
    async with db.acquire() as connection:
        customer = await new_customer(connection)
    method = await card(db, gateway, customer)
    async with db.acquire() as connection:
        # What a crash between writing the row and charging leaves behind.
        payment_id = await connection.fetchval(
            """INSERT INTO payments (customer_id, number, method_id, amount, source, idempotency_key, created_at)
               VALUES ($1, 'PAY-1', $2, 10.00, 'portal', $3, now() - interval '2 hours') RETURNING id""",
            customer,
            method,
            key(),
        )
    assert await reconcile_pending(db, gateway, older_than=60, give_up_after=86400) == 0
    assert await reconcile_pending(db, gateway, older_than=60, give_up_after=3600) == 1
    async with db.acquire() as connection:
        row = await connection.fetchrow("SELECT status, failure_code FROM payments WHERE id = $1", payment_id)
        assert tuple(row) == ("failed", NOT_CHARGED)
        assert await connection.fetchval("SELECT count(*) FROM billing_notices") == 0


@pytest.mark.parametrize(
    ("number", "status", "code"),
    [(DECLINED, PaymentStatus.DECLINED, "card_declined"), (FAILS, PaymentStatus.FAILED, "processing_error")],
)
async def test_a_declined_or_failed_payment_applies_nothing(
    db: asyncpg.Pool, gateway: SandboxGateway, number: str, status: PaymentStatus, code: str
) -> None:
    async with db.acquire() as connection:
        customer = await new_customer(connection)
        bill = await invoice(connection, customer, "30.00")
    method = await card(db, gateway, customer, number)
    outcome = await pay(db, gateway, request(customer, method, "30.00", [bill]))
    assert (outcome.status, outcome.failure_code, outcome.repeated) == (status, code, False)
    assert outcome.failure_message and "4000" not in outcome.failure_message
    async with db.acquire() as connection:
        assert await balance_due(connection, customer) == D("30.00")
        assert await credit_available(connection, customer) == 0
        assert await connection.fetchval("SELECT count(*) FROM allocations") == 0
        assert await connection.fetchval("SELECT count(*) FROM billing_notices") == 0
        row = (await list_payments(connection, CustomerScope(customer, None)))[0]
        assert (row.status, row.failure_code, row.succeeded) == (status, code, False)
        with pytest.raises(Conflict):
            await refund_payment(
                db,
                gateway,
                scope=CustomerScope(customer, None),
                payment_id=outcome.payment_id,
                amount=D("1.00"),
                reason="none",
                idempotency_key=key(),
                created_by=None,
            )
    # A new attempt (a new key) with a good card goes through.
    good = await card(db, gateway, customer)
    assert (await pay(db, gateway, request(customer, good, "30.00", [bill]))).status is PaymentStatus.SUCCEEDED


async def test_refunds_reopen_invoices_and_never_exceed_the_payment(db: asyncpg.Pool, gateway: SandboxGateway) -> None:
    async with db.acquire() as connection:
        customer = await new_customer(connection)
        older = await invoice(connection, customer, "30.00", due=date(2026, 12, 5))
        newer = await invoice(connection, customer, "20.00", due=date(2026, 12, 20))
        staff = await connection.fetchval(
            "INSERT INTO users (email, password_hash, role) VALUES ('staff@example.com', 'x', 'admin') RETURNING id"
        )
    method = await card(db, gateway, customer)
    scope = CustomerScope(customer, staff, by_staff=True)
    paid = await pay(db, gateway, request(customer, method, "60.00", [older, newer]))  # 10.00 credit

    async def refund(amount: str, idempotency_key: str | None = None) -> int:
        return await refund_payment(
            db,
            gateway,
            scope=scope,
            payment_id=paid.payment_id,
            amount=D(amount),
            reason="moved away",
            idempotency_key=idempotency_key or key(),
            created_by=staff,
        )

    partial_key = key()
    partial = await refund("25.00", partial_key)  # 10.00 credit, then 15.00 of the newer invoice
    async with db.acquire() as connection:
        assert await credit_available(connection, customer) == 0
        assert await balance_due(connection, customer) == D("15.00")
        detail = await payment_detail(connection, scope, paid.payment_id)
        assert detail.payment.status is PaymentStatus.PARTLY_REFUNDED and detail.payment.succeeded
        assert (detail.payment.refunded, detail.refundable) == (D("25.00"), D("35.00"))
        assert [(r.id, r.amount, r.status, r.reason) for r in detail.refunds] == [
            (partial, D("25.00"), "succeeded", "moved away")
        ]
        assert [(a.invoice_id, a.amount, a.reason) for a in detail.allocations][-1] == (newer, D("-15.00"), "refund")
    # The same form again: the same refund, nothing refunded twice.
    assert await refund("25.00", partial_key) == partial
    with pytest.raises(Conflict):
        await refund("5.00", partial_key)  # that key is another refund's
    with pytest.raises(Conflict, match=r"\$35\.00"):
        await refund("35.01")
    full = await refund("35.00")
    async with db.acquire() as connection:
        assert await balance_due(connection, customer) == D("50.00")  # both invoices open again
        detail = await payment_detail(connection, scope, paid.payment_id)
        assert detail.payment.status is PaymentStatus.REFUNDED and detail.refundable == 0
        with pytest.raises(Conflict):
            await refund("0.01")
        assert await connection.fetchval("SELECT count(*) FROM sandbox_refunds") == 2
        assert await connection.fetchval("SELECT sum(amount) FROM sandbox_refunds") == D("60.00")
        notices = await connection.fetch("SELECT kind, refund_id FROM billing_notices ORDER BY id")
        assert [tuple(n) for n in notices] == [("receipt", None), ("refund", partial), ("refund", full)]
        assert await ledger_problems(connection) == []
        # Another customer cannot see or refund it.
        other = CustomerScope(await new_customer(connection, "Beta"), None)
        with pytest.raises(NotFound):
            await payment_detail(connection, other, paid.payment_id)
    with pytest.raises(NotFound):
        await refund_payment(
            db,
            gateway,
            scope=other,
            payment_id=paid.payment_id,
            amount=D("1.00"),
            reason="x",
            idempotency_key=key(),
            created_by=staff,
        )


async def test_concurrent_refunds_cannot_exceed_the_payment(db: asyncpg.Pool, gateway: SandboxGateway) -> None:
    async with db.acquire() as connection:
        customer = await new_customer(connection)
    method = await card(db, gateway, customer)
    paid = await pay(db, gateway, request(customer, method, "30.00", []))
    scope = CustomerScope(customer, None)

    async def refund() -> str:
        try:
            await refund_payment(
                db,
                gateway,
                scope=scope,
                payment_id=paid.payment_id,
                amount=D("20.00"),
                reason="",
                idempotency_key=key(),
                created_by=None,
            )
        except Conflict:
            return "conflict"
        return "refunded"

    assert sorted(await asyncio.gather(refund(), refund(), refund())) == ["conflict", "conflict", "refunded"]
    async with db.acquire() as connection:
        assert await credit_available(connection, customer) == D("10.00")
        assert await ledger_problems(connection) == []


async def test_list_payments_newest_first_and_scoped(db: asyncpg.Pool, gateway: SandboxGateway) -> None:
    async with db.acquire() as connection:
        customer = await new_customer(connection)
        other = await new_customer(connection, "Beta")
    method = await card(db, gateway, customer)
    declined = await card(db, gateway, customer, DECLINED)
    theirs = await card(db, gateway, other)
    first = await pay(db, gateway, request(customer, method, "10.00", []))
    second = await pay(db, gateway, request(customer, declined, "11.00", []))
    await pay(db, gateway, request(other, theirs, "12.00", []))
    async with db.acquire() as connection:
        rows = await list_payments(connection, CustomerScope(customer, None))
        assert [(r.id, r.amount, r.status) for r in rows] == [
            (second.payment_id, D("11.00"), PaymentStatus.DECLINED),
            (first.payment_id, D("10.00"), PaymentStatus.SUCCEEDED),
        ]
        assert [r.id for r in await list_payments(connection, CustomerScope(customer, None), limit=1)] == [
            second.payment_id
        ]


async def test_a_refund_left_pending_is_sent_again_by_reconcile(db: asyncpg.Pool, gateway: SandboxGateway) -> None:
    async with db.acquire() as connection:
        customer = await new_customer(connection)
        bill = await invoice(connection, customer, "30.00")
    method = await card(db, gateway, customer)
    paid = await pay(db, gateway, request(customer, method, "30.00", [bill]))
    async with db.acquire() as connection:
        # What a refund whose gateway call went unanswered leaves: the row, pending, nothing taken back yet.
        refund_id = await connection.fetchval(
            "INSERT INTO refunds (payment_id, amount, idempotency_key) VALUES ($1, 12.00, $2) RETURNING id",
            paid.payment_id,
            key(),
        )
        assert await balance_due(connection, customer) == 0
    assert await reconcile_pending(db, gateway, older_than=0, give_up_after=86400) == 1
    assert await reconcile_pending(db, gateway, older_than=0, give_up_after=86400) == 0
    async with db.acquire() as connection:
        assert await connection.fetchval("SELECT status FROM refunds WHERE id = $1", refund_id) == "succeeded"
        assert await connection.fetchval("SELECT count(*) FROM sandbox_refunds") == 1
        assert await balance_due(connection, customer) == D("12.00")
        assert await connection.fetchval("SELECT count(*) FROM billing_notices WHERE kind = 'refund'") == 1
        assert await ledger_problems(connection) == []


async def test_a_refund_the_gateway_refuses_is_recorded_failed(db: asyncpg.Pool, gateway: SandboxGateway) -> None:
    async with db.acquire() as connection:
        customer = await new_customer(connection)
        bill = await invoice(connection, customer, "30.00")
    method = await card(db, gateway, customer)
    paid = await pay(db, gateway, request(customer, method, "30.00", [bill]))
    async with db.acquire() as connection:
        # The gateway's side already gave all of it back (refunded from its own dashboard, say).
        charge = await connection.fetchval("SELECT id FROM sandbox_charges")
        await connection.execute(
            "INSERT INTO sandbox_refunds (id, idempotency_key, charge_id, amount)"
            " VALUES ('re_x', 'outside', $1, 30.00)",
            charge,
        )
    scope = CustomerScope(customer, None)
    refund_id = await refund_payment(
        db,
        gateway,
        scope=scope,
        payment_id=paid.payment_id,
        amount=D("10.00"),
        reason="",
        idempotency_key=key(),
        created_by=None,
    )
    async with db.acquire() as connection:
        row = await connection.fetchrow("SELECT status, failure_message FROM refunds WHERE id = $1", refund_id)
        assert row["status"] == "failed" and row["failure_message"]
        assert await balance_due(connection, customer) == 0  # nothing taken back
        detail = await payment_detail(connection, scope, paid.payment_id)
        assert (detail.payment.status, detail.refundable) == (PaymentStatus.SUCCEEDED, D("30.00"))
        assert await connection.fetchval("SELECT count(*) FROM billing_notices WHERE kind = 'refund'") == 0
        assert await ledger_problems(connection) == []
