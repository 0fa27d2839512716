"""shared.billing.ledger on real PostgreSQL: dues, credit, plans applied, refunds and voids taken back, invariants."""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from datetime import date, timedelta
from decimal import Decimal

import asyncpg
import pytest

from shared.billing.invoices import list_invoices, void_invoice
from shared.billing.ledger import (
    apply_credit,
    balance_due,
    credit_available,
    ledger_problems,
    lock_customer,
    open_dues,
)
from shared.billing.money import plan_allocation
from shared.errors import NotFound
from shared.scope import CustomerScope
from tests.shared.billing.ledger_setup import (
    invoice,
    method_row,
    new_customer,
    settled_payment,
    settled_refund,
)

D = Decimal


async def applied_to(connection: asyncpg.Connection, invoice_id: int) -> Decimal:
    return await connection.fetchval(
        "SELECT coalesce(sum(amount), 0) FROM allocations WHERE invoice_id = $1", invoice_id
    )


async def test_dues_balance_and_credit(db: asyncpg.Pool) -> None:
    async with db.acquire() as connection:
        customer = await new_customer(connection)
        other = await new_customer(connection, "Beta")
        card = await method_row(connection, customer)
        late = await invoice(connection, customer, "30.00", due=date(2026, 12, 20))
        early = await invoice(connection, customer, "10.00", "5.55", due=date(2026, 12, 10))
        await invoice(connection, other, "99.00")
        assert [d.invoice_id for d in await open_dues(connection, customer)] == [early, late]
        assert await balance_due(connection, customer) == D("45.55")
        assert await credit_available(connection, customer) == D("0.00")

        # Pays the early one in full and 4.45 of the late one, as planned; 10.00 more stays credit.
        plan = plan_allocation(D("30.00"), await open_dues(connection, customer), {late: D("4.45")})
        await settled_payment(connection, customer, card, "30.00", plan.lines)
        assert plan.credit == D("10.00")
        dues = await open_dues(connection, customer)
        assert [(d.invoice_id, d.balance) for d in dues] == [(late, D("25.55"))]
        assert await balance_due(connection, customer) == D("25.55")
        assert await credit_available(connection, customer) == D("10.00")
        assert await ledger_problems(connection) == []

        # The credit goes to what is open when asked.
        async with connection.transaction():
            await lock_customer(connection, customer)
            assert await apply_credit(connection, customer) == D("10.00")
        assert await balance_due(connection, customer) == D("15.55")
        assert await credit_available(connection, customer) == D("0.00")
        assert await balance_due(connection, other) == D("99.00")


async def test_lock_customer_of_nobody_is_not_found(db: asyncpg.Pool) -> None:
    async with db.acquire() as connection, connection.transaction():
        with pytest.raises(NotFound):
            await lock_customer(connection, 987654)


async def test_a_plan_is_capped_at_the_balance_when_it_settles(db: asyncpg.Pool) -> None:
    # Two payments planned against the same 30.00 before either settled: the second finds it paid, keeps credit.
    async with db.acquire() as connection:
        customer = await new_customer(connection)
        card = await method_row(connection, customer)
        bill = await invoice(connection, customer, "30.00")
        await settled_payment(connection, customer, card, "30.00", [(bill, D("30.00"))])
        second = await settled_payment(connection, customer, card, "30.00", [(bill, D("30.00"))])
        assert await applied_to(connection, bill) == D("30.00")
        assert await credit_available(connection, customer) == D("30.00")
        assert await connection.fetchval("SELECT count(*) FROM allocations WHERE payment_id = $1", second) == 0
        assert await ledger_problems(connection, customer) == []


async def test_a_plan_for_a_void_invoice_becomes_credit(db: asyncpg.Pool) -> None:
    async with db.acquire() as connection:
        customer = await new_customer(connection)
        card = await method_row(connection, customer)
        bill = await invoice(connection, customer, "30.00")
        await void_invoice(connection, CustomerScope(customer, None), bill, reason="billed twice")
        await settled_payment(connection, customer, card, "30.00", [(bill, D("30.00"))])
        assert await applied_to(connection, bill) == 0
        assert await credit_available(connection, customer) == D("30.00")
        assert await ledger_problems(connection) == []


async def test_credit_goes_oldest_payment_first_to_oldest_invoice_first(db: asyncpg.Pool) -> None:
    async with db.acquire() as connection:
        customer = await new_customer(connection)
        card = await method_row(connection, customer)
        first = await settled_payment(connection, customer, card, "7.00")
        second = await settled_payment(connection, customer, card, "20.00")
        # Each new invoice takes the credit as it is issued.
        newer = await invoice(connection, customer, "10.00", due=date(2026, 12, 25))
        older = await invoice(connection, customer, "12.00", due=date(2026, 12, 5))
        rows = await connection.fetch("SELECT payment_id, invoice_id, amount, reason FROM allocations ORDER BY id")
        assert [tuple(r) for r in rows] == [
            (first, newer, D("7.00"), "credit"),
            (second, newer, D("3.00"), "credit"),
            (second, older, D("12.00"), "credit"),
        ]
        assert await credit_available(connection, customer) == D("5.00")
        assert await balance_due(connection, customer) == D("0.00")


async def test_refund_takes_unapplied_money_first_then_newest_invoice_first(db: asyncpg.Pool) -> None:
    async with db.acquire() as connection:
        customer = await new_customer(connection)
        card = await method_row(connection, customer)
        old = await invoice(connection, customer, "20.00", due=date(2026, 12, 5))
        new = await invoice(connection, customer, "20.00", due=date(2026, 12, 25))
        payment = await settled_payment(connection, customer, card, "50.00", [(old, D("20.00")), (new, D("20.00"))])
        assert await credit_available(connection, customer) == D("10.00")

        await settled_refund(connection, customer, payment, "15.00")  # 10.00 of credit, 5.00 from the newer invoice
        assert await credit_available(connection, customer) == D("0.00")
        assert await applied_to(connection, new) == D("15.00")
        assert await applied_to(connection, old) == D("20.00")
        refund_rows = await connection.fetch("SELECT invoice_id, amount FROM allocations WHERE reason = 'refund'")
        assert [tuple(r) for r in refund_rows] == [(new, D("-5.00"))]

        await settled_refund(connection, customer, payment, "35.00")  # the rest: re-opens both
        assert await applied_to(connection, new) == 0
        assert await applied_to(connection, old) == 0
        assert await balance_due(connection, customer) == D("40.00")
        assert await ledger_problems(connection) == []


async def test_void_gives_the_money_back_as_credit_and_applies_it_elsewhere(db: asyncpg.Pool) -> None:
    async with db.acquire() as connection:
        customer = await new_customer(connection)
        card = await method_row(connection, customer)
        wrong = await invoice(connection, customer, "40.00", due=date(2026, 12, 5))
        await settled_payment(connection, customer, card, "40.00", [(wrong, D("40.00"))])
        right = await invoice(connection, customer, "25.00", due=date(2026, 12, 20))
        await void_invoice(connection, CustomerScope(customer, 1), wrong, reason="wrong amount")
        assert await applied_to(connection, wrong) == 0
        assert await applied_to(connection, right) == D("25.00")
        assert await credit_available(connection, customer) == D("15.00")
        reasons = await connection.fetch(
            "SELECT amount, reason FROM allocations WHERE invoice_id = $1 ORDER BY id", wrong
        )
        assert [tuple(r) for r in reasons] == [(D("40.00"), "payment"), (D("-40.00"), "void")]
        assert await ledger_problems(connection) == []


async def test_ledger_problems_finds_violations(db: asyncpg.Pool) -> None:
    async with db.acquire() as connection:
        customer = await new_customer(connection)
        card = await method_row(connection, customer)
        bill = await invoice(connection, customer, "10.00")
        payment = await settled_payment(connection, customer, card, "10.00", [(bill, D("10.00"))])
        assert await ledger_problems(connection, customer) == []
        # Applied twice over (what a bug outside the ledger's functions could do): both sides are reported.
        await connection.execute(
            "INSERT INTO allocations (payment_id, invoice_id, amount, reason) VALUES ($1, $2, 10.00, 'credit')",
            payment,
            bill,
        )
        problems = await ledger_problems(connection, customer)
        assert any("applied of a total of 10.00" in p for p in problems)
        assert any("20.00 applied, 0 refunded of 10.00" in p for p in problems)
        # Another customer's ledger is not this one's problem.
        other = await new_customer(connection, "Beta")
        assert await ledger_problems(connection, other) == []


async def test_ledger_rows_are_append_only(db: asyncpg.Pool) -> None:
    async with db.acquire() as connection:
        customer = await new_customer(connection)
        card = await method_row(connection, customer)
        bill = await invoice(connection, customer, "10.00")
        await settled_payment(connection, customer, card, "10.00", [(bill, D("10.00"))])
        with pytest.raises(asyncpg.RestrictViolationError):
            await connection.execute("UPDATE allocations SET amount = 1")
        with pytest.raises(asyncpg.RestrictViolationError):
            await connection.execute("UPDATE payments SET status = 'failed'")


class Model:
    """Running totals the ledger must agree with: money in, money refunded."""

    def __init__(self) -> None:
        self.paid = D("0.00")
        self.refunded = D("0.00")


@pytest.mark.parametrize("seed", [1, 2, 3, 4])
async def test_random_sequences_keep_the_ledger_sound(db: asyncpg.Pool, seed: int) -> None:
    """Random invoices, payments (planned, partial, over-paid), refunds, voids and credit runs on two customers:
    after every step the invariants hold, every balance stays within 0..total, and every cent is accounted for."""
    rng = random.Random(seed)
    async with db.acquire() as connection:
        customers = [await new_customer(connection, "Alpha"), await new_customer(connection, "Beta")]
        cards = {c: await method_row(connection, c) for c in customers}
        models = {c: Model() for c in customers}
        payments: dict[int, list[tuple[int, Decimal]]] = {c: [] for c in customers}  # (payment, refundable)

        done: Counter[str] = Counter()

        def cents(low: int, high: int) -> Decimal:
            return D(rng.randint(low, high)).scaleb(-2)

        for step in range(70):
            customer = rng.choice(customers)
            model = models[customer]
            scope = CustomerScope(customer, None)
            action = rng.choice(["invoice", "invoice", "pay", "pay", "pay", "refund", "void", "credit"])
            if action == "invoice":
                amounts = [str(cents(1, 9_999)) for _ in range(rng.randint(1, 3))]
                await invoice(
                    connection, customer, *amounts, due=date(2026, 12, 1) + timedelta(days=rng.randint(0, 40))
                )
            elif action == "pay":
                dues = await open_dues(connection, customer)
                ticked = [d for d in dues if rng.random() < 0.7]
                amount = cents(1, 20_000)
                requested: dict[int, Decimal] = {}
                if ticked and rng.random() < 0.3:
                    pick = rng.choice(ticked)
                    requested[pick.invoice_id] = min(pick.balance, amount, cents(1, 5_000))
                plan = plan_allocation(amount, ticked, requested)
                if rng.random() < 0.3 and plan.lines:  # someone else pays first: the plan is capped when it settles
                    other = await settled_payment(connection, customer, cards[customer], str(amount), plan.lines)
                    payments[customer].append((other, amount))
                    model.paid += amount
                payment = await settled_payment(connection, customer, cards[customer], str(amount), plan.lines)
                payments[customer].append((payment, amount))
                model.paid += amount
            elif action == "refund" and payments[customer]:
                index = rng.randrange(len(payments[customer]))
                payment, refundable = payments[customer][index]
                if refundable > 0:
                    amount = refundable if rng.random() < 0.3 else min(refundable, cents(1, 10_000))
                    await settled_refund(connection, customer, payment, str(amount))
                    payments[customer][index] = (payment, refundable - amount)
                    model.refunded += amount
            elif action == "void":
                open_ones = await list_invoices(connection, scope, which="all")
                candidates = [i for i in open_ones if i.voided_at is None]
                if candidates:
                    await void_invoice(connection, scope, rng.choice(candidates).id, reason=f"step {step}")
            elif action == "credit":
                async with connection.transaction():
                    await lock_customer(connection, customer)
                    await apply_credit(connection, customer)

            done[action] += 1
            assert await ledger_problems(connection) == [], f"seed {seed} step {step} {action}"
            for c in customers:
                rows = await list_invoices(connection, CustomerScope(c, None), which="all", limit=1000)
                for row in rows:
                    assert D("0.00") <= row.balance <= row.total
                    assert D("0.00") <= row.applied <= row.total
                    if row.voided_at is not None:
                        assert row.applied == 0
                applied = sum((row.applied for row in rows), D("0.00"))
                credit = await credit_available(connection, c)
                assert credit >= 0
                # Every cent paid is applied to an invoice, left as credit, or refunded.
                assert models[c].paid == applied + credit + models[c].refunded
                assert await balance_due(connection, c) == sum((row.balance for row in rows), D("0.00"))
        # The sequence did exercise every path of the ledger.
        reasons = {r[0] for r in await connection.fetch("SELECT DISTINCT reason FROM allocations")}
        assert reasons == {"payment", "credit", "refund", "void"}, (reasons, done)


async def test_concurrent_credit_runs_apply_the_credit_once(db: asyncpg.Pool) -> None:
    async with db.acquire() as connection:
        customer = await new_customer(connection)
        card = await method_row(connection, customer)
        await settled_payment(connection, customer, card, "50.00")
        await connection.execute(
            """INSERT INTO invoices (customer_id, number, issued_on, due_on, total)
               VALUES ($1, 'INV-X1', '2026-12-01', '2026-12-15', 30.00)""",
            customer,
        )
        bill = await connection.fetchval("SELECT id FROM invoices WHERE number = 'INV-X1'")
        await connection.execute(
            "INSERT INTO invoice_lines (invoice_id, position, description, amount) VALUES ($1, 1, 'Fee', 30.00)", bill
        )

    async def run() -> Decimal:
        async with db.acquire() as connection, connection.transaction():
            await lock_customer(connection, customer)
            applied = await apply_credit(connection, customer)
            await asyncio.sleep(0.05)
            return applied

    results = await asyncio.gather(*(run() for _ in range(4)))
    assert sorted(results) == [D("0.00"), D("0.00"), D("0.00"), D("30.00")]
    async with db.acquire() as connection:
        assert await ledger_problems(connection) == []
        assert await credit_available(connection, customer) == D("20.00")
