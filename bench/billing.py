"""Billing benchmark: the monthly billing cycle and the autopay drafts for 100,000 customers (target < 60 s each).

A fresh database gets N customers with a monthly fee, each with a sandbox 4242 card on file and autopay on the 5th
(bulk SQL, as a migration from another system would load them). Then, timed: the billing cycle for the month, and
autopay on the draft day (every draft charged through the sandbox gateway, settled and applied); then each again,
which must find nothing left to do. Afterwards every customer must have one invoice, one charge, one succeeded
payment, nothing owed, and a sound ledger.

    python -m bench.billing [--customers 100000] [--write]
"""

from __future__ import annotations

import argparse
import os
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from datetime import time as clock
from decimal import Decimal
from typing import TypeVar
from urllib.parse import urlsplit

import asyncpg

from bench.ingest import cpu_seconds, machine, run_benchmark, server_url, with_database, write_results
from shared.billing.autopay import run_autopay
from shared.billing.autopay_drafts import BATCH_SIZE, CONCURRENCY
from shared.billing.cycle import run_billing_cycle
from shared.billing.ledger import ledger_problems
from shared.billing.sandbox import SANDBOX_CARDS, SandboxGateway
from shared.db import Pool, create_pool
from shared.logs import configure_logging
from shared.migrations import migrate

PERIOD = date(2027, 1, 1)
DRAFT_DAY = 5
FEE = Decimal("39.99")
TARGET_SECONDS = 60.0
T = TypeVar("T")

_LOAD = """
    WITH made AS (
        INSERT INTO customers (name, email, monthly_fee)
        SELECT 'Bench customer ' || n, 'bench' || n || '@example.com', $2 FROM generate_series(1, $1) AS n
        RETURNING id
    ), tokens AS (
        INSERT INTO sandbox_tokens (token, kind, behaviour, last4)
        SELECT 'tok_bench_' || id, 'card', $3, '4242' FROM made
    ), methods AS (
        INSERT INTO payment_methods (customer_id, kind, gateway, gateway_token, brand, last4, exp_month, exp_year,
                                     holder_name, billing_address, is_default, terms_accepted_at)
        SELECT id, 'card', 'sandbox', 'tok_bench_' || id, 'Visa', '4242', 12, 2030, 'Bench Holder',
               id || ' Bench Street', true, now()
          FROM made
        RETURNING id, customer_id
    )
    INSERT INTO autopay (customer_id, method_id, draft_day, starts_period)
    SELECT customer_id, id, $4, $5 FROM methods
"""


@dataclass(frozen=True)
class Timed:
    name: str
    seconds: float
    client_cpu: float
    postgres_cpu: float
    result: str


class Meter:
    """CPU time of this process and of the PostgreSQL backends serving the bench database (not the whole server:
    other work on a shared machine would count, and backends that end would take their time with them)."""

    def __init__(self, pool: Pool) -> None:
        self.pool = pool
        self.backends: set[int] = set()

    async def snapshot(self) -> tuple[float, dict[int, float]]:
        async with self.pool.acquire() as connection:
            pids = await connection.fetch("SELECT pid FROM pg_stat_activity WHERE datname = current_database()")
        self.backends |= {row["pid"] for row in pids}
        return cpu_seconds(os.getpid()), {pid: cpu_seconds(pid) for pid in self.backends}

    async def timed(self, name: str, work: Awaitable[T], describe: Callable[[T], str]) -> Timed:
        client, server = await self.snapshot()
        started = time.perf_counter()
        result = await work
        seconds = time.perf_counter() - started
        client_after, server_after = await self.snapshot()
        postgres = sum(after - server.get(pid, 0.0) for pid, after in server_after.items())
        entry = Timed(name, seconds, client_after - client, postgres, describe(result))
        print(f"{name:<28} {seconds:8.2f} s  {entry.result}", flush=True)
        return entry


async def load(pool: Pool, customers: int) -> float:
    started = time.perf_counter()
    async with pool.acquire() as connection:
        await connection.execute(_LOAD, customers, FEE, SANDBOX_CARDS["4242424242424242"], DRAFT_DAY, PERIOD)
        await connection.execute("VACUUM ANALYZE")
    return time.perf_counter() - started


async def cycle(pool: Pool) -> int:
    return await run_billing_cycle(
        pool, period=PERIOD, issued_on=PERIOD, due_days=15, description=f"Monthly monitoring {PERIOD:%B %Y}"
    )


async def autopay(pool: Pool, gateway: SandboxGateway, batch_size: int, concurrency: int) -> dict[str, int]:
    today = PERIOD.replace(day=DRAFT_DAY)
    return await run_autopay(
        pool,
        gateway,
        today=today,
        now=datetime.combine(today, clock(6), UTC),
        retries=2,
        retry_hours=48,
        reconcile_after=60,
        batch_size=batch_size,
        concurrency=concurrency,
    )


async def check(pool: Pool, customers: int) -> list[str]:
    """What must hold afterwards; each failure as a sentence."""
    async with pool.acquire() as connection:
        figures = await connection.fetchrow(
            """SELECT (SELECT count(*) FROM invoices WHERE period = $1) AS invoices,
                      (SELECT count(*) FROM sandbox_charges) AS charges,
                      (SELECT count(DISTINCT token) FROM sandbox_charges) AS charged_tokens,
                      (SELECT count(*) FROM payments WHERE status = 'succeeded') AS succeeded,
                      (SELECT count(*) FROM autopay_drafts WHERE status = 'paid') AS paid,
                      (SELECT count(*) FROM billing_notices WHERE kind = 'receipt') AS receipts,
                      (SELECT count(*) FROM invoices i
                        WHERE i.total > (SELECT coalesce(sum(amount), 0) FROM allocations WHERE invoice_id = i.id))
                        AS owing""",
            PERIOD,
        )
        problems = [
            f"{name}: {figures[name]:,} (expected {customers:,})"
            for name in ("invoices", "charges", "charged_tokens", "succeeded", "paid", "receipts")
            if figures[name] != customers
        ]
        if figures["owing"]:
            problems.append(f"{figures['owing']:,} invoices still owe money")
        problems.extend((await ledger_problems(connection))[:10])
    return problems


def table(entries: list[Timed]) -> str:
    lines = [
        "| step | wall time | CPU: bench process (Python) | CPU: PostgreSQL | result |",
        "| --- | --- | --- | --- | --- |",
    ]
    for entry in entries:
        lines.append(
            f"| {entry.name} | {entry.seconds:.1f} s | {entry.client_cpu:.1f} s | {entry.postgres_cpu:.1f} s "
            f"| {entry.result} |"
        )
    return "\n".join(lines)


async def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--batch-size", type=int, default=BATCH_SIZE, help="autopay drafts per batch")
    parser.add_argument("--concurrency", type=int, default=CONCURRENCY, help="autopay charges in flight")
    parser.add_argument("--write", action="store_true", help="replace the billing table in bench/RESULTS.md")
    parser.add_argument("--debug", action="store_true", help="log each autopay batch's claim, charge and settle times")
    args = parser.parse_args(argv)
    configure_logging("debug" if args.debug else "warning", "console")
    url, embedded = server_url()
    name = f"alarmhub_bench_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(url)
    await admin.execute(f'CREATE DATABASE "{name}"')
    database_url = with_database(url, name)
    load_before = os.getloadavg()
    try:
        connection = await asyncpg.connect(database_url)
        await migrate(connection)
        version = await connection.fetchval("SHOW server_version")
        await connection.close()
        pool = await create_pool(database_url, min_size=2, max_size=args.concurrency + 4)
        try:
            loaded = await load(pool, args.customers)
            print(f"loaded {args.customers:,} customers in {loaded:.1f} s", flush=True)
            gateway = SandboxGateway(pool, timeout=20)
            meter = Meter(pool)
            entries = [
                await meter.timed("billing cycle", cycle(pool), _issued),
                await meter.timed("billing cycle, again", cycle(pool), _issued),
                await meter.timed("autopay", autopay(pool, gateway, args.batch_size, args.concurrency), _counts),
                await meter.timed("autopay, again", autopay(pool, gateway, args.batch_size, args.concurrency), _counts),
            ]
            problems = await check(pool, args.customers)
        finally:
            await pool.close()
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()
        if embedded is not None:
            embedded.cleanup()  # type: ignore[attr-defined]
    met = all(entry.seconds < TARGET_SECONDS for entry in entries)
    report = (
        f"Machine: {machine()}; PostgreSQL {version} "
        f"({'embedded' if embedded else 'server at ' + urlsplit(url).netloc}); load average before the run "
        f"{load_before[0]:.2f} / {load_before[1]:.2f} / {load_before[2]:.2f} (1 / 5 / 15 min).\n"
        f"Command: `python -m bench.billing --customers {args.customers}` ({args.customers:,} customers loaded in "
        f"{loaded:.0f} s; autopay batches of {args.batch_size}, {args.concurrency} charges in flight, through the "
        f"sandbox gateway on the same database). Checked afterwards: "
        f"{'every customer invoiced once, charged once, paid in full; ledger sound' if not problems else 'FAILED'}."
        f"\n\n{table(entries)}\n"
    )
    if problems:
        report += "\nProblems:\n" + "".join(f"- {problem}\n" for problem in problems)
    print("\n" + report)
    if args.write:
        write_results(report, section="billing", title="Billing cycle and autopay (`make bench-billing`)")
    return 0 if met and not problems else 1


def _issued(count: int) -> str:
    return f"{count:,} invoices issued"


def _counts(counts: dict[str, int]) -> str:
    return ", ".join(f"{key} {value:,}" for key, value in counts.items() if value)


if __name__ == "__main__":
    run_benchmark(main)
