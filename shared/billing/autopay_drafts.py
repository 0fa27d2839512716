"""Autopay's monthly drafts, set-based: making them, attempting them in batches, following up their outcomes.

The guarantees are pay()'s (shared/billing/payments.py), kept for a whole batch at once: an attempt's payment row
is committed (pending) before its charge is sent; the charge's gateway key is the payment's; the outcome is settled
under the customers' ledger locks, the plan applied to open invoices oldest first and a receipt noticed. An attempt
is one payment keyed autopay:<customer>:<YYYY-MM>:<attempt>, and a draft's counter moves on only once that payment
is settled, so a payment per attempt, a charge per payment, and never an attempt after one that succeeded —
whatever the number of workers, crashes or restarts.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal

import asyncpg

from shared.billing.gateway import Charge, GatewayError, GatewayTimeout, GatewayUnavailable, PaymentGateway
from shared.billing.ledger import lock_customers
from shared.billing.payments import gateway_key
from shared.db import Connection, Pool
from shared.logs import get_logger

log = get_logger(__name__)

BATCH_SIZE = 1000  # drafts claimed, charged and settled together
CONCURRENCY = 16  # charges in flight at once (the gateway is a network service: its latency, not our CPU, binds)
PIPELINES = 2  # batches on their way at once: one's claim and settle overlap another's charges
COUNTS = ("reconciled", "drafted", "nothing_due", "attempted", "paid", "declined", "stopped", "pending")
_IDLE_ROUNDS = 20  # claims in a row that found only drafts whose customer was busy: leave them to the next run
_DEADLOCK_TRIES = 3
# Why a draft stopped when its method cannot be charged (removal is refused while autopay uses it; a method of
# another gateway than the configured one is the other way to get here).
NO_METHOD = "The payment method autopay uses cannot be charged any more: please choose another one."

# The attempt a draft is on: the one after those already settled.
_KEY = "'autopay:' || d.customer_id || ':' || to_char(d.period, 'YYYY-MM') || ':' || (d.attempts + 1)"


def attempt_key(customer_id: int, period: date, attempt: int) -> str:
    """The payment idempotency key of a draft's attempt (1, 2, ...): the same as _KEY computes in SQL."""
    return f"autopay:{customer_id}:{period:%Y-%m}:{attempt}"


@dataclass(frozen=True)
class Rules:
    now: datetime
    retries: int
    retry_hours: float

    @property
    def retry_at(self) -> datetime:
        return self.now + timedelta(hours=self.retry_hours)


@dataclass(frozen=True)
class Attempt:
    payment_id: int
    customer_id: int
    amount: Decimal
    token: str
    description: str


@dataclass(frozen=True)
class Outcome:
    """What the gateway said about one payment's charge."""

    payment_id: int
    customer_id: int
    charge: Charge


# A draft still 'due' whose attempt has no payment on its way is cancelled with autopay; one whose charge is on its
# way finishes (the money may have moved) and is then cancelled by the follow-up if it did not go through.
CANCEL_DUE_DRAFTS = f"""
    UPDATE autopay_drafts d SET status = 'cancelled', updated_at = now()
     WHERE d.customer_id = $1 AND d.status = 'due'
       AND NOT EXISTS (SELECT 1 FROM payments p
                        WHERE p.customer_id = d.customer_id AND p.idempotency_key = {_KEY} AND p.status = 'pending')
"""

# What an invoice still owes (not void): total minus every allocation to it.
_OWED = "i.total - coalesce((SELECT sum(x.amount) FROM allocations x WHERE x.invoice_id = i.id), 0)"

# This month's drafts of every autopay customer whose draft day has come, with what they owe now. A customer with a
# monthly fee waits for the billing cycle's invoice of the month: drafting before it would find nothing due (or
# only last month's rest) and leave this month's fee to be paid by hand.
_MAKE_DRAFTS = f"""
    WITH made AS (
        INSERT INTO autopay_drafts (customer_id, period, status, amount, next_attempt_at)
        SELECT a.customer_id, $1::date, CASE WHEN b.owed > 0 THEN 'due' ELSE 'nothing_due' END, b.owed, $3
          FROM autopay a
          JOIN customers c ON c.id = a.customer_id
         CROSS JOIN LATERAL (SELECT coalesce(sum({_OWED}), 0) AS owed
                               FROM invoices i WHERE i.customer_id = a.customer_id AND i.voided_at IS NULL) b
         WHERE a.starts_period <= $1 AND a.draft_day <= $2
           AND NOT EXISTS (SELECT 1 FROM autopay_drafts d WHERE d.customer_id = a.customer_id AND d.period = $1)
           AND (c.monthly_fee = 0
                OR EXISTS (SELECT 1 FROM invoices i WHERE i.customer_id = a.customer_id AND i.period = $1))
         ORDER BY a.customer_id
        ON CONFLICT DO NOTHING
        RETURNING status
    )
    SELECT status, count(*) AS n FROM made GROUP BY status
"""

# Drafts to attempt now: due, their attempt not yet made, and no payment of the customer's on its way (its outcome
# changes what is owed). SKIP LOCKED: a draft another worker is claiming is that worker's. No ORDER BY: every draft
# found is due now and all are done in this run, while sorting them made each claim read every due draft (100,000
# at the start) instead of stopping at the batch's size.
_CLAIM = f"""
    SELECT d.customer_id, d.period, d.attempts + 1 AS attempt
      FROM autopay_drafts d
     WHERE d.status = 'due' AND d.next_attempt_at <= $1
       AND NOT EXISTS (SELECT 1 FROM payments p WHERE p.customer_id = d.customer_id AND p.idempotency_key = {_KEY})
       AND NOT EXISTS (SELECT 1 FROM payments p WHERE p.customer_id = d.customer_id AND p.status = 'pending')
     LIMIT $2
       FOR UPDATE OF d SKIP LOCKED
"""

# Never waits for a customer's lock while holding drafts: a customer busy elsewhere is left for a later claim.
_LOCK_FREE_CUSTOMERS = """
    SELECT id FROM customers WHERE id = ANY($1::bigint[]) ORDER BY id FOR NO KEY UPDATE SKIP LOCKED
"""

# Under the customers' locks (so what is owed is current): each claimed draft's attempt becomes a pending payment of
# everything owed, its plan the open invoices oldest first; the drafts say what happened. One statement.
_OPEN_ATTEMPTS = f"""
    WITH claim AS (
        SELECT * FROM unnest($1::bigint[], $2::date[], $3::int[]) AS c(customer_id, period, attempt)
    ), state AS (
        SELECT c.customer_id, c.period, c.attempt, a.method_id, m.gateway_token, due.amount, due.plan,
               a.customer_id IS NOT NULL AS autopay_on,
               EXISTS (SELECT 1 FROM payments p WHERE p.customer_id = c.customer_id AND p.status = 'pending') AS busy
          FROM claim c
          LEFT JOIN autopay a ON a.customer_id = c.customer_id
          LEFT JOIN payment_methods m ON m.id = a.method_id AND m.removed_at IS NULL AND m.gateway = $4
         CROSS JOIN LATERAL (  -- per customer (an aggregate is never flattened): their invoices by index
               SELECT sum(o.balance) AS amount,
                      jsonb_agg(jsonb_build_object('invoice_id', o.id, 'amount', o.balance::text)
                                ORDER BY o.due_on, o.id) AS plan
                 FROM (SELECT i.id, i.due_on, {_OWED} AS balance
                         FROM invoices i WHERE i.customer_id = c.customer_id AND i.voided_at IS NULL) o
                WHERE o.balance > 0) due
    ), opened AS (
        INSERT INTO payments (customer_id, number, method_id, amount, source, idempotency_key, plan)
        SELECT customer_id, 'PAY-' || nextval('payment_numbers'), method_id, amount, 'autopay',
               'autopay:' || customer_id || ':' || to_char(period, 'YYYY-MM') || ':' || attempt, plan
          FROM state WHERE NOT busy AND gateway_token IS NOT NULL AND amount > 0
         ORDER BY customer_id
        ON CONFLICT (customer_id, idempotency_key) DO NOTHING
        RETURNING id, customer_id, amount
    ), outcome AS (
        SELECT s.customer_id, s.period, o.id AS payment_id, o.amount, s.gateway_token,
               CASE WHEN o.id IS NOT NULL THEN 'opened' WHEN s.busy THEN 'busy' WHEN NOT s.autopay_on THEN 'cancelled'
                    WHEN s.amount IS NULL THEN 'nothing_due' WHEN s.gateway_token IS NULL THEN 'no_method'
                    ELSE 'taken' END AS result
          FROM state s LEFT JOIN opened o ON o.customer_id = s.customer_id
    ), marked AS (
        UPDATE autopay_drafts d
           SET payment_id = coalesce(o.payment_id, d.payment_id),
               amount = CASE o.result WHEN 'opened' THEN o.amount WHEN 'nothing_due' THEN 0 ELSE d.amount END,
               status = CASE o.result WHEN 'nothing_due' THEN 'nothing_due' WHEN 'cancelled' THEN 'cancelled'
                                      WHEN 'no_method' THEN 'stopped' ELSE d.status END,
               last_error = CASE o.result WHEN 'no_method' THEN $5 ELSE d.last_error END,
               updated_at = now()
          FROM outcome o
         WHERE d.customer_id = o.customer_id AND d.period = o.period
           AND o.result IN ('opened', 'nothing_due', 'cancelled', 'no_method')
    )
    SELECT customer_id, period, payment_id, amount, gateway_token, result FROM outcome
"""

_SETTLE = """
    UPDATE payments p
       SET status = o.status, gateway_charge_id = o.charge_id, failure_code = o.code, failure_message = o.message,
           settled_at = now()
      FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[], $5::text[])
           AS o(id, status, charge_id, code, message)
     WHERE p.id = o.id AND p.status = 'pending'
    RETURNING p.id, p.status
"""

# ledger.apply_plan for many payments in one statement: each plan line capped at what its invoice owes now (a void
# invoice owes nothing); the rest of the payment stays credit. Then each payment's receipt.
_APPLY_PLANS = f"""
    WITH applied AS (
        INSERT INTO allocations (payment_id, invoice_id, amount, reason)
        SELECT p.id, i.id, least((l.line ->> 'amount')::numeric, {_OWED}), 'payment'
          FROM payments p
         CROSS JOIN LATERAL jsonb_array_elements(p.plan) WITH ORDINALITY AS l(line, n)
          JOIN invoices i ON i.id = (l.line ->> 'invoice_id')::bigint AND i.customer_id = p.customer_id
                         AND i.voided_at IS NULL
         WHERE p.id = ANY($1::bigint[]) AND least((l.line ->> 'amount')::numeric, {_OWED}) > 0
         ORDER BY p.id, l.n
    )
    INSERT INTO billing_notices (kind, customer_id, payment_id)
    SELECT 'receipt', customer_id, id FROM payments WHERE id = ANY($1::bigint[]) ORDER BY id
"""

# A draft whose attempt's payment is settled moves on: paid; or the attempt counted and tried again later, stopped
# for the month after `retries` retries, or cancelled when autopay was turned off meanwhile. Its customer is told
# of a decline and of the stop. {where} picks the drafts: by their payments, or every due draft.
_FOLLOW = """
    WITH settled AS (
        SELECT d.customer_id, d.period, d.attempts + 1 AS attempts, p.id AS payment_id, p.status AS result,
               p.failure_message, NOT EXISTS (SELECT 1 FROM autopay a WHERE a.customer_id = d.customer_id) AS off
          FROM autopay_drafts d
          JOIN payments p ON p.customer_id = d.customer_id AND p.idempotency_key = {key}
         WHERE d.status = 'due' AND p.status <> 'pending' AND {where}
           FOR UPDATE OF d SKIP LOCKED
    ), moved AS (
        UPDATE autopay_drafts d
           SET attempts = s.attempts, payment_id = s.payment_id,
               status = CASE WHEN s.result = 'succeeded' THEN 'paid' WHEN s.off THEN 'cancelled'
                             WHEN s.attempts > $2 THEN 'stopped' ELSE 'due' END,
               next_attempt_at = CASE WHEN s.result = 'succeeded' OR s.off OR s.attempts > $2
                                      THEN d.next_attempt_at ELSE $3 END,
               last_error = CASE WHEN s.result = 'succeeded' THEN '' ELSE s.failure_message END,
               updated_at = now()
          FROM settled s
         WHERE d.customer_id = s.customer_id AND d.period = s.period
        RETURNING d.customer_id, d.status, s.payment_id
    ), told AS (
        INSERT INTO billing_notices (kind, customer_id, payment_id)
        SELECT CASE status WHEN 'stopped' THEN 'autopay_stopped' ELSE 'autopay_declined' END, customer_id, payment_id
          FROM moved WHERE status IN ('due', 'stopped') ORDER BY customer_id
    )
    SELECT CASE status WHEN 'due' THEN 'declined' ELSE status END AS status, count(*) AS n FROM moved GROUP BY 1
"""
_FOLLOW_PAYMENTS = _FOLLOW.format(key=_KEY, where="p.id = ANY($1::bigint[])")
_FOLLOW_ALL = _FOLLOW.format(key=_KEY, where="$1::bigint[] IS NULL")

# Attempts left pending (a crash between commit and charge, or a charge unanswered) long enough to be looked into.
_STUCK = """
    SELECT p.id, p.customer_id, p.amount, m.gateway_token
      FROM payments p JOIN payment_methods m ON m.id = p.method_id
     WHERE p.status = 'pending' AND p.source = 'autopay' AND p.id > $3
       AND p.created_at < now() - make_interval(secs => $1) AND p.created_at > now() - make_interval(secs => $2)
     ORDER BY p.id
     LIMIT $4
"""


@asynccontextmanager
async def _batch_transaction(pool: Pool) -> AsyncIterator[Connection]:
    """A transaction for set-based statements over a batch, planned for each batch's own values.

    JIT off: their cost estimates run high (a lateral per customer), past jit_above_cost, and compiling took ~0.6 s
    per statement, ten times the statement itself. Custom plans: after five runs of a prepared statement PostgreSQL
    may switch to a generic plan, blind to the arrays' sizes; one turned a 50 ms settle into 1-2 s mid-run.
    """
    async with pool.acquire() as connection, connection.transaction():
        await connection.execute("SET LOCAL jit = off; SET LOCAL plan_cache_mode = force_custom_plan")
        yield connection


def _counted(rows: Sequence[asyncpg.Record]) -> Counter[str]:
    return Counter({row[0]: int(row["n"]) for row in rows})


async def make_drafts(pool: Pool, *, period: date, day: int, now: datetime) -> Counter[str]:
    """This month's drafts of every autopay customer whose draft day has come (ON CONFLICT: one per month)."""
    async with _batch_transaction(pool) as connection:
        made = _counted(await connection.fetch(_MAKE_DRAFTS, period, day, now))
    return Counter({"drafted": made["due"], "nothing_due": made["nothing_due"]})


async def attempt_due(
    pool: Pool, gateway: PaymentGateway, rules: Rules, *, batch_size: int, concurrency: int, pipelines: int = PIPELINES
) -> Counter[str]:
    """Attempt every draft due by `rules.now`, batch by batch, until none is left that this worker can claim.

    `pipelines` batches are on their way at once (claims skip each other's drafts like two workers' do), so one's
    claim and settle overlap another's charges; the `concurrency` charges in flight are shared among them.
    """
    per_pipeline = max(1, concurrency // pipelines)
    tallies = await asyncio.gather(
        *(_attempt_batches(pool, gateway, rules, batch_size, per_pipeline) for _ in range(pipelines))
    )
    return sum(tallies, Counter())


async def _attempt_batches(
    pool: Pool, gateway: PaymentGateway, rules: Rules, batch_size: int, concurrency: int
) -> Counter[str]:
    counts: Counter[str] = Counter()
    idle = 0
    while True:
        started = time.perf_counter()
        attempts, claimed, progress = await _claim(pool, gateway, rules.now, batch_size)
        if not claimed:
            return counts
        counts["nothing_due"] += progress["nothing_due"]
        if attempts:
            counts["attempted"] += len(attempts)
            claimed_at = time.perf_counter()
            outcomes = await charge_all(gateway, attempts, concurrency)
            charged_at = time.perf_counter()
            counts["pending"] += len(attempts) - len(outcomes)
            counts.update(await settle(pool, outcomes, rules))
            log.debug(
                "autopay batch",
                attempts=len(attempts),
                claim_seconds=round(claimed_at - started, 3),
                charge_seconds=round(charged_at - claimed_at, 3),
                settle_seconds=round(time.perf_counter() - charged_at, 3),
            )
        if progress.total() == 0:  # every claimed customer was busy (their lock held elsewhere): wait a moment
            idle += 1
            if idle >= _IDLE_ROUNDS:
                log.info("autopay leaves drafts of busy customers to the next run", drafts=claimed)
                return counts
            await asyncio.sleep(0.05)
        else:
            idle = 0


async def _claim(
    pool: Pool, gateway: PaymentGateway, now: datetime, batch_size: int
) -> tuple[list[Attempt], int, Counter[str]]:
    """Claim a batch of due drafts and commit a pending payment for each attempt: (attempts, drafts claimed, what
    happened to the drafts). A customer's second due draft (an older month still retrying) waits for a later batch,
    which then charges what is owed after this one."""
    async with _batch_transaction(pool) as connection:
        drafts = await connection.fetch(_CLAIM, now, batch_size)
        if not drafts:
            return [], 0, Counter()
        free = {row["id"] for row in await connection.fetch(_LOCK_FREE_CUSTOMERS, [d["customer_id"] for d in drafts])}
        chosen: dict[int, asyncpg.Record] = {}
        for draft in drafts:  # oldest month first
            if draft["customer_id"] in free:
                known = chosen.get(draft["customer_id"])
                if known is None or draft["period"] < known["period"]:
                    chosen[draft["customer_id"]] = draft
        rows = await connection.fetch(
            _OPEN_ATTEMPTS,
            list(chosen),
            [d["period"] for d in chosen.values()],
            [d["attempt"] for d in chosen.values()],
            gateway.name,
            NO_METHOD,
        )
    attempts = [
        Attempt(row["payment_id"], row["customer_id"], row["amount"], row["gateway_token"], _describe(row["period"]))
        for row in rows
        if row["result"] == "opened"
    ]
    progress = Counter(row["result"] for row in rows if row["result"] != "busy" and row["result"] != "taken")
    return attempts, len(drafts), progress


def _describe(period: date) -> str:
    return f"Autopay {period:%B %Y}"


async def charge_all(
    gateway: PaymentGateway, attempts: Sequence[Attempt], concurrency: int, *, resume: bool = False
) -> list[Outcome]:
    """Charge each attempt once, `concurrency` at a time; the outcomes known (an unanswered charge has none yet).
    `resume`: the attempts were sent before (perhaps): ask the gateway for each charge first."""
    outcomes: list[Outcome] = []
    waiting = iter(attempts)

    async def charger() -> None:
        for attempt in waiting:  # shared: each attempt is taken by exactly one charger
            outcome = await _charge(gateway, attempt, resume=resume)
            if outcome is not None:
                outcomes.append(outcome)

    async with asyncio.TaskGroup() as group:
        for _ in range(max(1, min(concurrency, len(attempts)))):
            group.create_task(charger())
    return outcomes


async def _charge(gateway: PaymentGateway, attempt: Attempt, *, resume: bool = False) -> Outcome | None:
    key = gateway_key(attempt.payment_id)
    try:
        charge = None
        if resume:  # the charge may have been made before a crash or a timeout: the gateway knows by key
            charge = await gateway.find_charge(key)
        if charge is None:
            # Under the payment's own key: if the first send did reach the gateway after all, this answers that
            # charge; the gateway never charges one key twice.
            charge = await gateway.charge(
                attempt.token, attempt.amount, idempotency_key=key, description=attempt.description
            )
    except (GatewayTimeout, GatewayUnavailable) as error:
        log.warning("autopay charge unanswered; looked up later", payment_id=attempt.payment_id, error=str(error))
        return None
    except GatewayError as error:  # refused as malformed: nothing was charged
        log.error("autopay charge refused by the gateway", payment_id=attempt.payment_id, error=str(error))
        charge = Charge("", key, attempt.amount, "failed", "gateway_error", "The payment could not be processed.")
    except Exception:  # one attempt's surprise must not strand the batch: it stays pending, and is looked up later
        log.exception("autopay charge failed unexpectedly", payment_id=attempt.payment_id)
        return None
    return Outcome(attempt.payment_id, attempt.customer_id, charge)


async def settle(pool: Pool, outcomes: Sequence[Outcome], rules: Rules) -> Counter[str]:
    """Record the outcomes under the customers' locks: payments settled (only those still pending: another worker's
    reconcile may have been first), plans applied, receipts noticed, drafts moved on."""
    if not outcomes:
        return Counter()
    for tries_left in range(_DEADLOCK_TRIES - 1, -1, -1):
        try:
            async with _batch_transaction(pool) as connection:
                return await _settle(connection, outcomes, rules)
        except asyncpg.DeadlockDetectedError:
            if not tries_left:
                raise
            log.warning("autopay settle deadlocked; tried again", payments=len(outcomes))
    raise AssertionError("unreachable")


async def _settle(connection: Connection, outcomes: Sequence[Outcome], rules: Rules) -> Counter[str]:
    await lock_customers(connection, sorted({outcome.customer_id for outcome in outcomes}))
    charges = [outcome.charge for outcome in outcomes]
    settled = await connection.fetch(
        _SETTLE,
        [outcome.payment_id for outcome in outcomes],
        [charge.status for charge in charges],
        [charge.id or None for charge in charges],
        [charge.failure_code for charge in charges],
        [charge.failure_message for charge in charges],
    )
    succeeded = [row["id"] for row in settled if row["status"] == "succeeded"]
    if succeeded:
        await connection.execute(_APPLY_PLANS, succeeded)
    return _counted(
        await connection.fetch(_FOLLOW_PAYMENTS, [row["id"] for row in settled], rules.retries, rules.retry_at)
    )


async def follow_settled(pool: Pool, rules: Rules) -> Counter[str]:
    """Move on every due draft whose attempt was settled by someone else (the ledger's reconcile)."""
    async with _batch_transaction(pool) as connection:
        return _counted(await connection.fetch(_FOLLOW_ALL, None, rules.retries, rules.retry_at))


async def resume_pending(
    pool: Pool, gateway: PaymentGateway, rules: Rules, *, older_than: float, give_up_after: float, concurrency: int
) -> Counter[str]:
    """Finish attempts left pending for `older_than` seconds: the gateway's charge under the payment's key if it
    has one, else the charge sent now under that same key (a crash came between the commit and the send). Attempts
    older than `give_up_after` are left to the ledger's reconcile, which gives them up."""
    counts: Counter[str] = Counter()
    after = 0
    while True:
        async with pool.acquire() as connection:
            rows = await connection.fetch(_STUCK, older_than, give_up_after, after, BATCH_SIZE)
        if not rows:
            return counts
        after = rows[-1]["id"]
        attempts = [Attempt(r["id"], r["customer_id"], r["amount"], r["gateway_token"], "Autopay") for r in rows]
        outcomes = await charge_all(gateway, attempts, concurrency, resume=True)
        counts["reconciled"] += len(outcomes)
        counts.update(await settle(pool, outcomes, rules))
