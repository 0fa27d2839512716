"""Autopay (C6): a customer's standing instruction (set up, change, cancel, status) and the worker's monthly drafts."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from shared.billing import autopay_drafts as drafts
from shared.billing import autopay_queries as sql
from shared.billing.gateway import PaymentGateway
from shared.billing.ledger import lock_customer
from shared.billing.methods import PaymentMethod, method_of
from shared.billing.payments import reconcile_pending
from shared.db import Connection, Pool
from shared.errors import DomainError, NotFound
from shared.logs import get_logger
from shared.scope import CustomerScope

log = get_logger(__name__)

FIRST_DRAFT_DAY, LAST_DRAFT_DAY = 1, 28  # every month has a 28th
# The ledger's reconcile (payments.reconcile_pending) gives a charge it cannot find up as "not charged" after this
# long. Autopay's own pass (autopay_drafts.py) completes an interrupted attempt long before that by sending its
# charge again under the same gateway key (only while autopay is on and its card on file).
GIVE_UP_AFTER = 24 * 3600.0


@dataclass(frozen=True)
class AutopayStatus:
    """Whether autopay is on, with which method and draft day, and the date of the next draft."""

    on: bool
    method: PaymentMethod | None
    draft_day: int | None
    next_draft: date | None
    starts_period: date | None


OFF = AutopayStatus(on=False, method=None, draft_day=None, next_draft=None, starts_period=None)


def month_after(day: date) -> date:
    """The first day of the month after `day`."""
    return (day.replace(day=1) + timedelta(days=32)).replace(day=1)


def check_draft_day(draft_day: int) -> int:
    if not FIRST_DRAFT_DAY <= draft_day <= LAST_DRAFT_DAY:
        raise DomainError(
            f"Choose a draft day from {FIRST_DRAFT_DAY} to {LAST_DRAFT_DAY} (every month has those days).",
            field="draft_day",
        )
    return draft_day


_SET_UP = """
    INSERT INTO autopay AS a (customer_id, method_id, draft_day, starts_period, updated_by)
    VALUES ($1, $2, $3, $4, $5)
    ON CONFLICT (customer_id) DO UPDATE
        SET method_id = EXCLUDED.method_id, draft_day = EXCLUDED.draft_day,
            starts_period = LEAST(a.starts_period, EXCLUDED.starts_period),
            updated_by = EXCLUDED.updated_by, updated_at = now()
"""
# A draft declined earlier this month is tried again at once with the method the customer has just chosen (the
# usual reason to change it), instead of waiting out the retry interval with the method that failed.
_RETRY_WITH_NEW_METHOD = """
    UPDATE autopay_drafts SET next_attempt_at = LEAST(next_attempt_at, now()), updated_at = now()
    WHERE customer_id = $1 AND status = 'due' AND attempts > 0
"""


async def set_up_autopay(
    connection: Connection, scope: CustomerScope, *, method_id: int, draft_day: int, today: date
) -> AutopayStatus:
    """Turn autopay on, or change its method or draft day. It first drafts in the month after `today`; a change
    keeps an earlier start, so changing the day never skips nor repeats a month (one draft per month, always)."""
    check_draft_day(draft_day)
    async with connection.transaction():
        await lock_customer(connection, scope.customer_id)
        method = await method_of(connection, scope, method_id)  # NotFound: removed, or another customer's
        if method.expired(today):
            raise DomainError("That card has expired: choose another payment method.", field="method_id")
        previous = await connection.fetchval("SELECT method_id FROM autopay WHERE customer_id = $1", scope.customer_id)
        await connection.execute(_SET_UP, scope.customer_id, method.id, draft_day, month_after(today), scope.user_id)
        if previous is not None and previous != method.id:
            await connection.execute(_RETRY_WITH_NEW_METHOD, scope.customer_id)
    log.info("autopay set up", customer_id=scope.customer_id, method_id=method.id, draft_day=draft_day)
    return await autopay_status(connection, scope, today=today)


async def cancel_autopay(connection: Connection, scope: CustomerScope) -> None:
    """Turn autopay off. A draft of this month not yet charged is cancelled; one whose charge is already on its way
    is left to finish (the money may have moved) and is never tried again, since autopay is off."""
    async with connection.transaction():
        await lock_customer(connection, scope.customer_id)
        deleted = await connection.execute("DELETE FROM autopay WHERE customer_id = $1", scope.customer_id)
        await connection.execute(sql.CANCEL_DUE_DRAFTS, scope.customer_id)
    if deleted != "DELETE 0":
        log.info("autopay cancelled", customer_id=scope.customer_id)


_STATUS = """
    SELECT a.method_id, a.draft_day, a.starts_period, d.status AS draft_status,
           d.next_attempt_at::date AS next_attempt_on
    FROM autopay a
    LEFT JOIN autopay_drafts d ON d.customer_id = a.customer_id AND d.period = $2
    WHERE a.customer_id = $1
"""


async def autopay_status(connection: Connection, scope: CustomerScope, *, today: date) -> AutopayStatus:
    """Autopay as the customer sees it. The next draft is on the draft day of the first month from the start whose
    draft is not finished; today when that day has come and the draft is still to be made or tried again."""
    this_month = today.replace(day=1)
    row = await connection.fetchrow(_STATUS, scope.customer_id, this_month)
    if row is None:
        return OFF
    try:
        method: PaymentMethod | None = await method_of(connection, scope, row["method_id"])
    except NotFound:  # removing a method autopay uses is refused; this only guards a page against a 500
        method = None
    draft_day: int = row["draft_day"]
    starts_period: date = row["starts_period"]
    period = max(starts_period, this_month)
    if period > this_month or row["draft_status"] is None:
        next_draft = max(today, period.replace(day=draft_day))
    elif row["draft_status"] == "due":  # made, and waiting for its (next) attempt
        next_draft = max(today, row["next_attempt_on"])
    else:  # this month's draft is finished (paid, nothing due, stopped or cancelled)
        next_draft = month_after(today).replace(day=draft_day)
    return AutopayStatus(
        on=True, method=method, draft_day=draft_day, next_draft=next_draft, starts_period=starts_period
    )


async def run_autopay(
    pool: Pool,
    gateway: PaymentGateway,
    *,
    today: date,
    now: datetime,
    retries: int,
    retry_hours: float,
    reconcile_after: float,
    batch_size: int = drafts.BATCH_SIZE,
    concurrency: int = drafts.CONCURRENCY,
) -> dict[str, int]:
    """One run of the autopay job (idempotent; any number of workers at once): settle attempts whose charge went
    unanswered, make this month's drafts that are due by `today`, and attempt every draft due by `now`.

    Returns counts: reconciled, drafted, nothing_due, attempted, paid, declined, stopped, pending.
    """
    rules = drafts.Rules(now=now, retries=retries, retry_hours=retry_hours)
    counts: Counter[str] = Counter()
    # (a) Attempts a crash or a timeout left pending: the gateway is asked by key; the ledger's own pass first.
    counts["reconciled"] += await reconcile_pending(
        pool, gateway, older_than=reconcile_after, give_up_after=GIVE_UP_AFTER
    )
    counts.update(
        await drafts.resume_pending(
            pool, gateway, rules, older_than=reconcile_after, give_up_after=GIVE_UP_AFTER / 2, concurrency=concurrency
        )
    )
    counts.update(await drafts.follow_settled(pool, rules))
    # (b) This month's drafts, one per customer (the primary key), set-based.
    counts.update(await drafts.make_drafts(pool, period=today.replace(day=1), day=today.day, now=now))
    # (c) Attempts, batch by batch.
    counts.update(await drafts.attempt_due(pool, gateway, rules, batch_size=batch_size, concurrency=concurrency))
    result = {key: counts[key] for key in drafts.COUNTS}
    log.info("autopay ran", today=today.isoformat(), **result)
    return result
