"""Autopay on real PostgreSQL and the real sandbox gateway: set up, change, cancel, status, and the worker's drafts —
one per month, paid once, retried after a decline, settled after a timeout, and never charged twice by two workers
or by a run cut short."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal

import pytest
import pytest_asyncio

from shared.billing import autopay_drafts
from shared.billing.autopay import OFF, autopay_status, cancel_autopay, run_autopay, set_up_autopay
from shared.billing.gateway import CardDetails
from shared.billing.invoices import create_invoice
from shared.billing.ledger import balance_due, ledger_problems
from shared.billing.methods import add_payment_method
from shared.billing.payments import PaymentRequest, gateway_key, pay
from shared.billing.sandbox import SandboxGateway
from shared.db import Pool, create_pool
from shared.errors import DomainError, NotFound
from shared.scope import CustomerScope

D = Decimal
SET_UP_ON = date(2026, 12, 5)  # autopay set up today drafts from January 2027
JANUARY = date(2027, 1, 1)
JAN_5 = date(2027, 1, 5)
VISA = "4242424242424242"
DECLINED = "4000000000000002"
SLOW = "4000000000003220"  # charged, but the answer never comes in time


def noon(day: date) -> datetime:
    return datetime.combine(day, time(12), UTC)


@pytest_asyncio.fixture
async def pool(database_url: str) -> AsyncIterator[Pool]:
    """Room for two workers' charges in flight at once."""
    opened = await create_pool(database_url, min_size=2, max_size=12)
    yield opened
    await opened.close()


async def new_scope(pool: Pool, name: str, *, monthly_fee: str = "0") -> CustomerScope:
    customer_id = await pool.fetchval(
        "INSERT INTO customers (name, monthly_fee) VALUES ($1, $2) RETURNING id", name, D(monthly_fee)
    )
    user_id = await pool.fetchval(
        "INSERT INTO users (customer_id, email, role) VALUES ($1, $2, 'owner') RETURNING id",
        customer_id,
        f"{name.lower()}@example.com",
    )
    return CustomerScope(customer_id=customer_id, user_id=user_id)


async def add_card(pool: Pool, scope: CustomerScope, number: str = VISA, *, exp_year: int = 2030) -> int:
    method = await add_payment_method(
        pool,
        SandboxGateway(pool, timeout=5),
        scope,
        CardDetails(number, 12, exp_year, "123", "Ada Lovelace", "1 Main St"),
        make_default=True,
        terms_accepted=True,
    )
    return method.id


async def invoice(pool: Pool, scope: CustomerScope, amount: str, *, due_on: date, period: date | None = None) -> int:
    async with pool.acquire() as connection:
        issued = await create_invoice(
            connection,
            customer_id=scope.customer_id,
            lines=[("Monthly monitoring", D(amount))],
            issued_on=due_on - timedelta(days=15),
            due_on=due_on,
            period=period,
        )
    return issued.id


async def autopay_customer(
    pool: Pool, name: str, *amounts: str, card: str = VISA, draft_day: int = 5, monthly_fee: str = "0"
) -> CustomerScope:
    """A customer with invoices of `amounts` (due in January, oldest first) and autopay on a card from January."""
    scope = await new_scope(pool, name, monthly_fee=monthly_fee)
    method_id = await add_card(pool, scope, card)
    for n, amount in enumerate(amounts):
        await invoice(pool, scope, amount, due_on=date(2027, 1, 10 + n))
    async with pool.acquire() as connection:
        await set_up_autopay(connection, scope, method_id=method_id, draft_day=draft_day, today=SET_UP_ON)
    return scope


async def run(
    pool: Pool,
    day: date = JAN_5,
    *,
    now: datetime | None = None,
    retries: int = 2,
    reconcile_after: float = 60.0,
    timeout: float = 5.0,
    batch_size: int = autopay_drafts.BATCH_SIZE,
    concurrency: int = autopay_drafts.CONCURRENCY,
) -> dict[str, int]:
    return await run_autopay(
        pool,
        SandboxGateway(pool, timeout=timeout),
        today=day,
        now=now or noon(day),
        retries=retries,
        retry_hours=48,
        reconcile_after=reconcile_after,
        batch_size=batch_size,
        concurrency=concurrency,
    )


async def status_of(pool: Pool, scope: CustomerScope, today: date = JAN_5) -> tuple[bool, date | None]:
    async with pool.acquire() as connection:
        status = await autopay_status(connection, scope, today=today)
    return status.on, status.next_draft


async def charges_per_customer(pool: Pool) -> dict[int, int]:
    rows = await pool.fetch(
        """SELECT m.customer_id, count(*) AS n FROM sandbox_charges c
           JOIN payment_methods m ON m.gateway_token = c.token GROUP BY m.customer_id"""
    )
    return {row["customer_id"]: row["n"] for row in rows}


async def assert_sound(pool: Pool) -> None:
    async with pool.acquire() as connection:
        assert await ledger_problems(connection) == []


async def test_set_up_starts_next_month_and_a_change_keeps_the_start(pool: Pool) -> None:
    scope = await new_scope(pool, "Alpha")
    method_id = await add_card(pool, scope)
    async with pool.acquire() as connection:
        assert await autopay_status(connection, scope, today=SET_UP_ON) == OFF
        status = await set_up_autopay(connection, scope, method_id=method_id, draft_day=5, today=SET_UP_ON)
        assert (status.on, status.starts_period, status.draft_day) == (True, JANUARY, 5)
        assert status.method is not None and status.method.id == method_id
        assert status.next_draft == date(2027, 1, 5)  # not December's 5th: it starts with the next billing cycle
        # A change in January keeps January: a later day this month, or today when the new day has passed.
        status = await set_up_autopay(connection, scope, method_id=method_id, draft_day=20, today=date(2027, 1, 10))
        assert (status.starts_period, status.next_draft) == (JANUARY, date(2027, 1, 20))
        status = await set_up_autopay(connection, scope, method_id=method_id, draft_day=3, today=date(2027, 1, 10))
        assert (status.starts_period, status.next_draft) == (JANUARY, date(2027, 1, 10))
        assert await connection.fetchval("SELECT updated_by FROM autopay") == scope.user_id


@pytest.mark.parametrize("draft_day", [0, 29, 31, -1])
async def test_draft_day_must_be_in_every_month(pool: Pool, draft_day: int) -> None:
    scope = await new_scope(pool, "Alpha")
    method_id = await add_card(pool, scope)
    async with pool.acquire() as connection:
        with pytest.raises(DomainError) as refused:
            await set_up_autopay(connection, scope, method_id=method_id, draft_day=draft_day, today=SET_UP_ON)
        assert refused.value.field == "draft_day"
        assert await connection.fetchval("SELECT count(*) FROM autopay") == 0


async def test_only_the_customers_own_current_method(pool: Pool) -> None:
    alpha, beta = await new_scope(pool, "Alpha"), await new_scope(pool, "Beta")
    betas = await add_card(pool, beta)
    expired = await add_card(pool, alpha, exp_year=2026)  # valid until the end of December 2026
    async with pool.acquire() as connection:
        with pytest.raises(NotFound):
            await set_up_autopay(connection, alpha, method_id=betas, draft_day=5, today=SET_UP_ON)
        with pytest.raises(DomainError) as refused:
            await set_up_autopay(connection, alpha, method_id=expired, draft_day=5, today=date(2027, 1, 2))
        assert refused.value.field == "method_id"
        await connection.execute("UPDATE payment_methods SET removed_at = now(), is_default = false")
        with pytest.raises(NotFound):
            await set_up_autopay(connection, beta, method_id=betas, draft_day=5, today=SET_UP_ON)
        assert await connection.fetchval("SELECT count(*) FROM autopay") == 0


async def test_a_draft_pays_everything_owed_oldest_first_once(pool: Pool) -> None:
    scope = await autopay_customer(pool, "Alpha", "20.00", "30.05")
    counts = await run(pool, date(2027, 1, 4))  # the day before the draft day
    assert counts["drafted"] == counts["attempted"] == 0
    counts = await run(pool)
    assert (counts["drafted"], counts["attempted"], counts["paid"]) == (1, 1, 1)

    payment = await pool.fetchrow("SELECT * FROM payments")
    assert (payment["source"], payment["status"], payment["amount"]) == ("autopay", "succeeded", D("50.05"))
    assert payment["idempotency_key"] == f"autopay:{scope.customer_id}:2027-01:1"
    charges = await pool.fetch("SELECT idempotency_key, amount, status FROM sandbox_charges")
    assert [tuple(c) for c in charges] == [(gateway_key(payment["id"]), D("50.05"), "succeeded")]
    applied = await pool.fetch(
        """SELECT i.due_on, a.amount, a.reason FROM allocations a JOIN invoices i ON i.id = a.invoice_id
           ORDER BY a.id"""
    )
    assert [tuple(a) for a in applied] == [
        (date(2027, 1, 10), D("20.00"), "payment"),
        (date(2027, 1, 11), D("30.05"), "payment"),
    ]
    draft = await pool.fetchrow("SELECT * FROM autopay_drafts")
    assert (draft["period"], draft["status"], draft["attempts"], draft["amount"], draft["payment_id"]) == (
        JANUARY,
        "paid",
        1,
        D("50.05"),
        payment["id"],
    )
    notices = await pool.fetch("SELECT kind, customer_id, payment_id FROM billing_notices")
    assert [tuple(n) for n in notices] == [("receipt", scope.customer_id, payment["id"])]
    async with pool.acquire() as connection:
        assert await balance_due(connection, scope.customer_id) == 0
    await assert_sound(pool)

    for day in (JAN_5, date(2027, 1, 6), date(2027, 1, 28)):  # never a second draft for January
        counts = await run(pool, day)
        assert not any(counts.values()), counts
    assert await pool.fetchval("SELECT count(*) FROM sandbox_charges") == 1
    assert await status_of(pool, scope) == (True, date(2027, 2, 5))


async def test_nothing_owed_makes_a_nothing_due_draft(pool: Pool) -> None:
    scope = await autopay_customer(pool, "Alpha")
    counts = await run(pool)
    assert (counts["nothing_due"], counts["attempted"]) == (1, 0)
    draft = await pool.fetchrow("SELECT status, amount FROM autopay_drafts")
    assert tuple(draft) == ("nothing_due", D("0.00"))
    assert await pool.fetchval("SELECT count(*) FROM payments") == 0
    assert await status_of(pool, scope) == (True, date(2027, 2, 5))


async def test_a_monthly_fee_customer_waits_for_the_months_invoice(pool: Pool) -> None:
    scope = await autopay_customer(pool, "Alpha", "30.00", monthly_fee="30.00")  # December's, still owed
    counts = await run(pool)
    assert counts["drafted"] == 0  # the billing cycle has not issued January's invoice yet
    assert await status_of(pool, scope) == (True, JAN_5)
    await invoice(pool, scope, "30.00", due_on=date(2027, 1, 16), period=JANUARY)
    counts = await run(pool, date(2027, 1, 6))
    assert (counts["drafted"], counts["paid"]) == (1, 1)
    assert await pool.fetchval("SELECT amount FROM payments") == D("60.00")


@pytest.mark.parametrize(
    ("card", "status", "code"),
    [(DECLINED, "declined", "card_declined"), ("4000000000000119", "failed", "processing_error")],
)
async def test_a_declined_draft_is_retried_then_stopped_for_the_month(
    pool: Pool, card: str, status: str, code: str
) -> None:
    scope = await autopay_customer(pool, "Alpha", "45.00", card=card)
    counts = await run(pool, retries=1)
    assert (counts["attempted"], counts["declined"], counts["paid"]) == (1, 1, 0)
    draft = await pool.fetchrow("SELECT * FROM autopay_drafts")
    assert (draft["status"], draft["attempts"], draft["next_attempt_at"]) == ("due", 1, noon(date(2027, 1, 7)))
    assert draft["last_error"]  # the gateway's words for the customer, which the declined mail repeats
    failed = await pool.fetchrow("SELECT status, failure_code FROM payments")
    assert tuple(failed) == (status, code)
    assert await status_of(pool, scope) == (True, date(2027, 1, 7))

    assert (await run(pool, date(2027, 1, 6), retries=1))["attempted"] == 0  # not before the retry is due
    counts = await run(pool, date(2027, 1, 7), retries=1)
    assert (counts["attempted"], counts["stopped"]) == (1, 1)
    keys = await pool.fetch("SELECT idempotency_key, status FROM payments ORDER BY id")
    assert [tuple(k) for k in keys] == [
        (autopay_drafts.attempt_key(scope.customer_id, JANUARY, 1), status),
        (autopay_drafts.attempt_key(scope.customer_id, JANUARY, 2), status),
    ]
    assert (await run(pool, date(2027, 1, 20), retries=1))["attempted"] == 0
    assert await pool.fetchval("SELECT status FROM autopay_drafts") == "stopped"
    notices = await pool.fetch("SELECT kind FROM billing_notices ORDER BY id")
    assert [n["kind"] for n in notices] == ["autopay_declined", "autopay_stopped"]
    assert await pool.fetchval("SELECT count(*) FROM sandbox_charges") == 2
    assert await status_of(pool, scope, date(2027, 1, 20)) == (True, date(2027, 2, 5))
    await assert_sound(pool)


async def test_a_new_method_retries_a_declined_draft_at_once(pool: Pool) -> None:
    scope = await autopay_customer(pool, "Alpha", "45.00", card=DECLINED)
    await run(pool)
    visa = await add_card(pool, scope)
    async with pool.acquire() as connection:
        await set_up_autopay(connection, scope, method_id=visa, draft_day=5, today=JAN_5)
    counts = await run(pool, now=noon(JAN_5) + timedelta(hours=1))
    assert (counts["attempted"], counts["paid"]) == (1, 1)
    assert await pool.fetchval("SELECT method_id FROM payments WHERE status = 'succeeded'") == visa


async def test_a_month_still_retrying_and_the_next_are_paid_by_one_charge(pool: Pool) -> None:
    scope = await autopay_customer(pool, "Alpha", card=DECLINED)
    await pool.execute("UPDATE autopay SET starts_period = '2026-12-01'")  # set up in November
    await invoice(pool, scope, "30.00", due_on=date(2026, 12, 20))
    assert (await run(pool, SET_UP_ON))["declined"] == 1  # December's draft: declined, retried on the 7th
    visa = await add_card(pool, scope)
    await pool.execute("UPDATE autopay SET method_id = $1", visa)  # as staff would, without the immediate retry
    await invoice(pool, scope, "30.00", due_on=date(2027, 1, 20))
    counts = await run(pool)  # December's retry and January's draft are both due
    assert (counts["drafted"], counts["attempted"], counts["paid"], counts["nothing_due"]) == (1, 1, 1, 1)
    assert await pool.fetchval("SELECT amount FROM payments WHERE status = 'succeeded'") == D("60.00")
    drafts = await pool.fetch("SELECT period, status, attempts FROM autopay_drafts ORDER BY period")
    assert [tuple(d) for d in drafts] == [(date(2026, 12, 1), "paid", 2), (JANUARY, "nothing_due", 0)]
    assert await pool.fetchval("SELECT count(*) FROM sandbox_charges WHERE status = 'succeeded'") == 1
    await assert_sound(pool)


async def test_a_pending_payment_of_the_customer_holds_the_draft_back(pool: Pool) -> None:
    scope = await autopay_customer(pool, "Alpha", "45.00")
    method_id = await pool.fetchval("SELECT method_id FROM autopay")
    await pool.execute(
        """INSERT INTO payments (customer_id, number, method_id, amount, source, idempotency_key)
           VALUES ($1, 'PAY-1', $2, 45.00, 'portal', 'portal-key-in-flight-0001')""",
        scope.customer_id,
        method_id,
    )
    counts = await run(pool)  # the portal payment's outcome decides what is owed: wait for it
    assert (counts["drafted"], counts["attempted"]) == (1, 0)
    assert await pool.fetchval("SELECT status FROM autopay_drafts") == "due"
    assert await status_of(pool, scope) == (True, JAN_5)


async def test_an_unanswered_charge_is_settled_from_the_gateway_never_charged_again(pool: Pool) -> None:
    scope = await autopay_customer(pool, "Alpha", "45.00", card=SLOW)
    counts = await run(pool, timeout=0.2)
    assert (counts["attempted"], counts["pending"], counts["paid"]) == (1, 1, 0)
    assert await pool.fetchval("SELECT status FROM payments") == "pending"
    assert await pool.fetchval("SELECT status FROM sandbox_charges") == "succeeded"  # the money did move
    assert (await run(pool, timeout=0.2))["attempted"] == 0  # its customer has a payment on its way
    await asyncio.sleep(0.2)
    counts = await run(pool, timeout=0.2, reconcile_after=0.1)
    assert counts["attempted"] == 0 and counts["reconciled"] >= 1
    assert await pool.fetchval("SELECT status FROM payments") == "succeeded"
    assert await pool.fetchval("SELECT status FROM autopay_drafts") == "paid"
    assert await charges_per_customer(pool) == {scope.customer_id: 1}
    assert [n["kind"] for n in await pool.fetch("SELECT kind FROM billing_notices")] == ["receipt"]
    await assert_sound(pool)


async def test_cancel_stops_the_months_draft(pool: Pool) -> None:
    scope = await autopay_customer(pool, "Alpha", "45.00", card=DECLINED)
    await run(pool)
    async with pool.acquire() as connection:
        await cancel_autopay(connection, scope)
        assert await autopay_status(connection, scope, today=JAN_5) == OFF
        await cancel_autopay(connection, scope)  # cancelling twice is harmless
    assert await pool.fetchval("SELECT status FROM autopay_drafts") == "cancelled"
    assert (await run(pool, date(2027, 1, 7)))["attempted"] == 0
    assert (await run(pool, date(2027, 2, 5)))["drafted"] == 0


async def claim_and_stop(pool: Pool) -> tuple[list[autopay_drafts.Attempt], int]:
    """A worker that makes the drafts and commits their attempts' payments, then stops before charging."""
    await autopay_drafts.make_drafts(pool, period=JANUARY, day=5, now=noon(JAN_5))
    attempts, claimed, _ = await autopay_drafts._claim(pool, SandboxGateway(pool, timeout=5), noon(JAN_5), 10)
    return attempts, claimed


async def test_a_charge_sent_before_cancel_finishes_after_it(pool: Pool) -> None:
    scope = await autopay_customer(pool, "Alpha", "45.00")
    attempts, _ = await claim_and_stop(pool)
    assert len(attempts) == 1
    await autopay_drafts.charge_all(
        SandboxGateway(pool, timeout=5), attempts, 1
    )  # sent; the worker died before settling
    async with pool.acquire() as connection:
        await cancel_autopay(connection, scope)
    assert await pool.fetchval("SELECT status FROM autopay_drafts") == "due"  # its money may be moving
    await asyncio.sleep(0.15)
    counts = await run(pool, reconcile_after=0.1)
    assert counts["paid"] == 1
    assert await pool.fetchval("SELECT status FROM autopay_drafts") == "paid"
    assert await charges_per_customer(pool) == {scope.customer_id: 1}


async def test_an_attempt_never_sent_is_not_sent_after_cancel(pool: Pool) -> None:
    """The review's case: committed, the worker died before the charge, the customer stopped autopay and removed
    the card. The next run asks the gateway, finds nothing, and records that nothing was charged — never a charge."""
    scope = await autopay_customer(pool, "Alpha", "45.00")
    attempts, _ = await claim_and_stop(pool)
    assert len(attempts) == 1
    async with pool.acquire() as connection:
        await cancel_autopay(connection, scope)
    await asyncio.sleep(0.15)
    await run(pool, reconcile_after=0.1)
    assert await charges_per_customer(pool) == {}
    assert await pool.fetchval("SELECT status FROM payments") == "failed"
    assert await pool.fetchval("SELECT status FROM autopay_drafts") == "cancelled"


async def test_a_crash_before_the_charge_or_before_the_settle_is_recovered_once(pool: Pool) -> None:
    before_charge = await autopay_customer(pool, "Alpha", "10.00")
    before_settle = await autopay_customer(pool, "Beta", "20.00")
    attempts, claimed = await claim_and_stop(pool)
    assert claimed == 2 and await pool.fetchval("SELECT count(*) FROM payments WHERE status = 'pending'") == 2
    charged = [a for a in attempts if a.customer_id == before_settle.customer_id]
    await autopay_drafts.charge_all(SandboxGateway(pool, timeout=5), charged, 2)  # charged; the settle never ran
    assert (await run(pool))["attempted"] == 0  # still pending and recent: left alone, never a new attempt
    await asyncio.sleep(0.15)
    counts = await run(pool, reconcile_after=0.1)
    assert counts["attempted"] == 0 and counts["reconciled"] >= 2
    assert await charges_per_customer(pool) == {before_charge.customer_id: 1, before_settle.customer_id: 1}
    rows = await pool.fetch("SELECT customer_id, status FROM payments ORDER BY customer_id")
    assert [r["status"] for r in rows] == ["succeeded", "succeeded"]
    assert await pool.fetchval("SELECT count(*) FROM autopay_drafts WHERE status = 'paid'") == 2
    assert await pool.fetchval("SELECT count(*) FROM billing_notices WHERE kind = 'receipt'") == 2
    await assert_sound(pool)


async def many_customers(pool: Pool, count: int) -> list[int]:
    return [(await autopay_customer(pool, f"Customer{n}", f"{10 + n}.25")).customer_id for n in range(count)]


async def assert_each_paid_once(pool: Pool, customers: list[int]) -> None:
    assert await charges_per_customer(pool) == dict.fromkeys(customers, 1)
    paid = await pool.fetch("SELECT customer_id, count(*) AS n FROM payments WHERE status = 'succeeded' GROUP BY 1")
    assert {row["customer_id"]: row["n"] for row in paid} == dict.fromkeys(customers, 1)
    assert await pool.fetchval("SELECT count(*) FROM payments WHERE status <> 'succeeded'") == 0
    assert await pool.fetchval("SELECT count(*) FROM autopay_drafts WHERE status = 'paid'") == len(customers)
    await assert_sound(pool)


async def test_two_workers_at_once_charge_each_customer_once(pool: Pool) -> None:
    customers = await many_customers(pool, 24)
    first, second = await asyncio.gather(run(pool, batch_size=4, concurrency=3), run(pool, batch_size=4, concurrency=3))
    assert first["attempted"] + second["attempted"] == 24
    assert first["drafted"] + second["drafted"] == 24  # each draft made once (ON CONFLICT)
    await assert_each_paid_once(pool, customers)


async def test_a_run_cut_short_and_run_again_charges_each_customer_once(pool: Pool) -> None:
    customers = await many_customers(pool, 30)
    cut = asyncio.create_task(run(pool, batch_size=6, concurrency=3))
    async with asyncio.timeout(20):
        while await pool.fetchval("SELECT count(*) FROM sandbox_charges") < 8:  # noqa: ASYNC110
            await asyncio.sleep(0.005)
    cut.cancel()  # as a killed worker: whatever was in flight stays as it was
    with pytest.raises(asyncio.CancelledError):
        await cut
    await asyncio.sleep(0.15)
    await asyncio.gather(run(pool, reconcile_after=0.1), run(pool, reconcile_after=0.1))
    await assert_each_paid_once(pool, customers)


async def one_time(pool: Pool, scope: CustomerScope, amount: str, invoice_ids: list[int], key: str) -> None:
    method_id = await pool.fetchval("SELECT id FROM payment_methods WHERE customer_id = $1", scope.customer_id)
    request = PaymentRequest(
        customer_id=scope.customer_id,
        method_id=method_id,
        amount=D(amount),
        requested=None,
        invoice_ids=invoice_ids,
        idempotency_key=key,
        source="portal",
        created_by=None,
    )
    await pay(pool, SandboxGateway(pool, timeout=5), request)


async def test_a_draft_charges_what_is_owed_net_of_credit(pool: Pool) -> None:
    """The review's case: $100 paid ticking only the first of two $50 invoices leaves $50 credit and the second open.
    The draft applies the credit first and charges nothing more: $100 for $100 of invoices, not $150."""
    scope = await autopay_customer(pool, "Alpha", "50.00", "50.00")
    first = await pool.fetchval("SELECT min(id) FROM invoices WHERE customer_id = $1", scope.customer_id)
    await one_time(pool, scope, "100.00", [first], "one-time-key-0000000001")
    await run(pool)
    assert await charges_per_customer(pool) == {scope.customer_id: 1}  # the one-time payment alone
    async with pool.acquire() as connection:
        assert await balance_due(connection, scope.customer_id) == D("0.00")
        assert await ledger_problems(connection) == []


async def test_a_one_time_payment_waits_while_a_draft_is_on_its_way(pool: Pool) -> None:
    """Paying by hand while the draft's charge is in flight could pay the same invoices twice: it is refused with
    a message, and nothing is charged."""
    scope = await autopay_customer(pool, "Alpha", "45.00")
    attempts, _ = await claim_and_stop(pool)
    assert len(attempts) == 1
    invoice_id = await pool.fetchval("SELECT id FROM invoices WHERE customer_id = $1", scope.customer_id)
    with pytest.raises(DomainError, match="still being confirmed"):
        await one_time(pool, scope, "45.00", [invoice_id], "one-time-key-0000000002")
    assert await charges_per_customer(pool) == {}
