"""The monthly billing cycle: one invoice per customer with a fee and month, issued set-based, credit applied."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from shared.billing.ledger import apply_credit_of, lock_customers
from shared.config import Config
from shared.db import Pool
from shared.logs import get_logger

log = get_logger(__name__)

# English month names, not strftime's %B: that follows the process locale, and invoices read the same everywhere.
MONTHS = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)
# Customers whose credit is applied per transaction: each batch holds that many ledger locks at most.
CREDIT_BATCH = 500

# Every customer with a fee and no invoice for the month gets one, numbered from the sequence, with its one line, in
# one statement. UNIQUE (customer_id, period) makes it exactly once: a concurrent run's insert of the same customer
# and month waits for this one's commit, then does nothing (numbers it drew are skipped, never reused). Customers are
# taken in id order so two concurrent runs wait on each other in the same order instead of deadlocking.
_ISSUE = """
    WITH billable AS (
        SELECT c.id AS customer_id, c.monthly_fee
          FROM customers c
         WHERE c.monthly_fee > 0
           AND NOT EXISTS (SELECT 1 FROM invoices i WHERE i.customer_id = c.id AND i.period = $1)
         ORDER BY c.id
    ), issued AS (
        INSERT INTO invoices (customer_id, number, period, issued_on, due_on, total, description)
        SELECT customer_id, 'INV-' || nextval('invoice_numbers'), $1, $2, $3, monthly_fee, $4
          FROM billable
        ON CONFLICT (customer_id, period) DO NOTHING
        RETURNING id, total
    ), lines AS (
        INSERT INTO invoice_lines (invoice_id, position, description, amount)
        SELECT id, 1, $4, total FROM issued
    )
    SELECT count(*) FROM issued
"""

# Customers with an invoice of the month still open and money not applied: the credit to apply. Looked up anew on
# each run (not only for this run's invoices), so credit a stopped run did not apply is applied by the next.
_CREDIT_CUSTOMERS = """
    SELECT DISTINCT p.customer_id
      FROM payments p
     WHERE p.status = 'succeeded'
       AND p.customer_id IN (
               SELECT i.customer_id FROM invoices i
                WHERE i.period = $1 AND i.voided_at IS NULL
                  AND i.total > coalesce((SELECT sum(amount) FROM allocations a WHERE a.invoice_id = i.id), 0))
       AND p.amount > coalesce((SELECT sum(amount) FROM refunds r WHERE r.payment_id = p.id
                                                                    AND r.status = 'succeeded'), 0)
                    + coalesce((SELECT sum(amount) FROM allocations a WHERE a.payment_id = p.id), 0)
     ORDER BY p.customer_id
"""


def current_period(now: datetime, timezone: str) -> date:
    """The month `now` falls in, in the company's time zone (portal.timezone), as its first day."""
    if now.tzinfo is None:
        raise ValueError("current_period needs an aware datetime")
    return now.astimezone(ZoneInfo(timezone)).date().replace(day=1)


def cycle_line(description: str, period: date) -> str:
    """The monthly invoice's line: the configured description followed by the month ("Monthly monitoring, May 2027")."""
    return f"{description.strip()}, {MONTHS[period.month - 1]} {period.year}"


async def run_billing_cycle(pool: Pool, *, period: date, issued_on: date, due_days: int, description: str) -> int:
    """Issue the month's invoice to every customer with a monthly fee who lacks one; the number issued.

    Exactly once per customer and month however many runs overlap (the unique period). Then each customer with an
    open invoice of the month and unapplied money gets the credit applied, under their ledger locks, in batches.
    """
    if period.day != 1:
        raise ValueError("a billing period is given by the first day of its month")
    if not description.strip():
        raise ValueError("the monthly invoice needs a line description")
    if due_days < 0:
        raise ValueError("due_days cannot be negative")
    line = cycle_line(description, period)
    async with pool.acquire() as connection:
        issued: int = await connection.fetchval(_ISSUE, period, issued_on, issued_on + timedelta(days=due_days), line)
        with_credit = [row["customer_id"] for row in await connection.fetch(_CREDIT_CUSTOMERS, period)]
        applied = 0
        for start in range(0, len(with_credit), CREDIT_BATCH):
            async with connection.transaction():
                locked = await lock_customers(connection, with_credit[start : start + CREDIT_BATCH])
                await apply_credit_of(connection, locked)
                applied += len(locked)
    log.info("billing cycle ran", period=period.isoformat(), issued=issued, credit_applied_for=applied)
    return issued


@dataclass(frozen=True, slots=True)
class CycleRun:
    period: date
    issued: int


async def run_current_cycle(pool: Pool, config: Config) -> CycleRun:
    """This month's cycle (the month and issue date in the company's time zone), with the configured due days and
    line: what the worker's billing-cycle job runs, the admins' "Run billing cycle now" and the command line too."""
    now = datetime.now(UTC)
    timezone: str = config["portal.timezone"]
    period = current_period(now, timezone)
    issued = await run_billing_cycle(
        pool,
        period=period,
        issued_on=now.astimezone(ZoneInfo(timezone)).date(),
        due_days=config["billing.invoice_due_days"],
        description=config["billing.monthly_fee_description"],  # the cycle adds the month
    )
    return CycleRun(period, issued)
