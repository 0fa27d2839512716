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

from shared.billing import autopay_queries as sql
from shared.billing.gateway import Charge, GatewayError, GatewayTimeout, GatewayUnavailable, PaymentGateway
from shared.billing.ledger import apply_credit_of, lock_customers
from shared.billing.payments import NOT_CHARGED, gateway_key
from shared.db import Connection, Pool
from shared.logs import get_logger

log = get_logger(__name__)
STOPPED_BEFORE_SENT = "Autopay was stopped before this draft was sent; nothing was charged."

BATCH_SIZE = 1000  # drafts claimed, charged and settled together
CONCURRENCY = 16  # charges in flight at once (the gateway is a network service: its latency, not our CPU, binds)
PIPELINES = 2  # batches on their way at once: one's claim and settle overlap another's charges
COUNTS = ("reconciled", "drafted", "nothing_due", "attempted", "paid", "declined", "stopped", "pending")
_IDLE_ROUNDS = 20  # claims in a row that found only drafts whose customer was busy: leave them to the next run
_DEADLOCK_TRIES = 3
# Why a draft stopped when its method cannot be charged (removal is refused while autopay uses it; a method of
# another gateway than the configured one is the other way to get here).
NO_METHOD = "The payment method autopay uses cannot be charged any more: please choose another one."


def attempt_key(customer_id: int, period: date, attempt: int) -> str:
    """The payment idempotency key of a draft's attempt (1, 2, ...): the same as autopay_queries.KEY computes."""
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
        made = _counted(await connection.fetch(sql.MAKE_DRAFTS, period, day, now))
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
        drafts = await connection.fetch(sql.CLAIM, now, batch_size)
        if not drafts:
            return [], 0, Counter()
        free = {
            row["id"] for row in await connection.fetch(sql.LOCK_FREE_CUSTOMERS, [d["customer_id"] for d in drafts])
        }
        chosen: dict[int, asyncpg.Record] = {}
        for draft in drafts:  # a customer's oldest due month first
            if draft["customer_id"] in free:
                known = chosen.get(draft["customer_id"])
                if known is None or draft["period"] < known["period"]:
                    chosen[draft["customer_id"]] = draft
        # Credit first (under the locks just taken): what a draft charges is what is owed net of the customer's
        # unapplied money, also when the billing cycle issued the invoice but has not applied the credit yet.
        await apply_credit_of(connection, list(chosen))
        rows = await connection.fetch(
            sql.OPEN_ATTEMPTS,
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
    gateway: PaymentGateway,
    attempts: Sequence[Attempt],
    concurrency: int,
    *,
    resume: bool = False,
    lookup_only: bool = False,
) -> list[Outcome]:
    """Charge each attempt once, `concurrency` at a time; the outcomes known (an unanswered charge has none yet).
    `resume`: the attempts were sent before (perhaps): ask the gateway for each charge first."""
    outcomes: list[Outcome] = []
    waiting = iter(attempts)

    async def charger() -> None:
        for attempt in waiting:  # shared: each attempt is taken by exactly one charger
            outcome = await _charge(gateway, attempt, resume=resume, lookup_only=lookup_only)
            if outcome is not None:
                outcomes.append(outcome)

    async with asyncio.TaskGroup() as group:
        for _ in range(max(1, min(concurrency, len(attempts)))):
            group.create_task(charger())
    return outcomes


async def _charge(
    gateway: PaymentGateway, attempt: Attempt, *, resume: bool = False, lookup_only: bool = False
) -> Outcome | None:
    key = gateway_key(attempt.payment_id)
    try:
        charge = None
        if resume or lookup_only:  # the charge may have been made before a crash or a timeout: the gateway knows
            charge = await gateway.find_charge(key)
        if charge is None and lookup_only:  # never sent, and autopay stopped (or its card went) meanwhile
            charge = Charge("", key, attempt.amount, "failed", NOT_CHARGED, STOPPED_BEFORE_SENT)
        elif charge is None:
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
        sql.SETTLE,
        [outcome.payment_id for outcome in outcomes],
        [charge.status for charge in charges],
        [charge.id or None for charge in charges],
        [charge.failure_code for charge in charges],
        [charge.failure_message for charge in charges],
    )
    succeeded = [row["id"] for row in settled if row["status"] == "succeeded"]
    if succeeded:
        await connection.execute(sql.APPLY_PLANS, succeeded)
    return _counted(
        await connection.fetch(sql.FOLLOW_PAYMENTS, [row["id"] for row in settled], rules.retries, rules.retry_at)
    )


async def follow_settled(pool: Pool, rules: Rules) -> Counter[str]:
    """Move on every due draft whose attempt was settled by someone else (the ledger's reconcile)."""
    async with _batch_transaction(pool) as connection:
        return _counted(await connection.fetch(sql.FOLLOW_ALL, None, rules.retries, rules.retry_at))


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
            rows = await connection.fetch(sql.STUCK, older_than, give_up_after, after, BATCH_SIZE)
        if not rows:
            return counts
        after = rows[-1]["id"]
        attempts = [Attempt(r["id"], r["customer_id"], r["amount"], r["gateway_token"], "Autopay") for r in rows]
        sendable = {r["id"] for r in rows if r["sendable"]}
        outcomes = await charge_all(
            gateway, [a for a in attempts if a.payment_id in sendable], concurrency, resume=True
        )
        outcomes += await charge_all(
            gateway, [a for a in attempts if a.payment_id not in sendable], concurrency, lookup_only=True
        )
        counts["reconciled"] += len(outcomes)
        counts.update(await settle(pool, outcomes, rules))
