"""The worker's billing jobs: the billing cycle and autopay singletons and the billing-notices queue job, wired from
configuration and run by a real worker against PostgreSQL and the sandbox gateway."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import asyncpg
import pytest
import structlog

from alarmhub.worker import worker_jobs
from shared.billing.autopay import set_up_autopay
from shared.billing.cycle import current_period
from shared.billing.gateway import CardDetails
from shared.billing.methods import add_payment_method
from shared.billing.sandbox import SandboxGateway
from shared.config import load_config
from shared.db import create_pool
from shared.jobs import QueueJob, Singleton
from shared.scope import CustomerScope
from tests.conftest import REPO

SHORT = {
    "ALARMHUB_WORKER_BILLING_INTERVAL": "1",
    "ALARMHUB_WORKER_AUTOPAY_INTERVAL": "1",
    "ALARMHUB_EMAIL_POLL_INTERVAL": "0.2",
}


@pytest.fixture(scope="module", autouse=True)
def structlog_as_it_was() -> Iterator[None]:
    """The billing secrets scan (tests/conftest.py) configures structlog for each billing test and leaves it so;
    tests after this module (test_worker's capsys checks) expect it as it was. The worker runs in a process of its
    own below for the same reason: loggers used in-process would keep the scan's configuration cached."""
    saved = structlog.get_config()
    yield
    structlog.reset_defaults()
    structlog.configure(**saved)


def test_worker_jobs_include_the_billing_jobs() -> None:
    config = load_config(None, environ={**SHORT, "ALARMHUB_WORKER_BILLING_INTERVAL": "120"})
    jobs = {job.name: job for job in worker_jobs(config)}
    cycle, autopay, notices = jobs["billing-cycle"], jobs["autopay"], jobs["billing-notices"]
    assert isinstance(cycle, Singleton) and cycle.interval == 120
    assert isinstance(autopay, Singleton) and autopay.interval == 1
    assert isinstance(notices, QueueJob)
    defaults = {job.name: job for job in worker_jobs(load_config(None, environ={}))}
    intervals = [job.interval for job in defaults.values() if isinstance(job, Singleton)]
    assert {3600.0, 300.0} <= set(intervals)  # worker.billing_interval, worker.autopay_interval


async def customer(pool: asyncpg.Pool, name: str, fee: str) -> CustomerScope:
    customer_id = await pool.fetchval(
        "INSERT INTO customers (name, monthly_fee) VALUES ($1, $2) RETURNING id", name, Decimal(fee)
    )
    user_id = await pool.fetchval(
        "INSERT INTO users (customer_id, email, role) VALUES ($1, $2, 'owner') RETURNING id",
        customer_id,
        f"{name.lower()}@example.com",
    )
    return CustomerScope(customer_id, user_id)


async def wait_for(pool: asyncpg.Pool, query: str, worker: asyncio.subprocess.Process, timeout: float = 60) -> None:
    async with asyncio.timeout(timeout):
        while not await pool.fetchval(query):
            assert worker.returncode is None, "the worker exited"
            await asyncio.sleep(0.1)


@pytest.mark.slow
async def test_a_worker_issues_invoices_drafts_autopay_and_mails_the_receipt(database_url: str, tmp_path: Path) -> None:
    pool = await create_pool(database_url, min_size=1, max_size=4)
    try:
        period = current_period(datetime.now(UTC), "UTC")
        payer, other = await customer(pool, "Alpha", "39.99"), await customer(pool, "Beta", "25.00")
        method = await add_payment_method(
            pool,
            SandboxGateway(pool, timeout=5),
            payer,
            CardDetails("4242424242424242", 12, 2030, "123", "Ada Lovelace", "1 Main St"),
            make_default=True,
            terms_accepted=True,
        )
        async with pool.acquire() as connection:
            await set_up_autopay(connection, payer, method_id=method.id, draft_day=1, today=period)
        # Set up last month, so this month is drafted (set up today, it would start next month).
        await pool.execute("UPDATE autopay SET starts_period = $1", period)

        # A real `alarmhub worker` process, as production runs it; its log goes to a file (a pipe could fill up).
        env = {k: v for k, v in os.environ.items() if not k.startswith("ALARMHUB_")} | SHORT
        env |= {"ALARMHUB_DATABASE_URL": database_url, "ALARMHUB_LOG_FORMAT": "json"}
        log_path = tmp_path / "worker.log"
        with log_path.open("w") as log_file:
            worker = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "alarmhub", "worker", cwd=REPO, env=env, stderr=log_file
            )
            try:
                await wait_for(pool, "SELECT status = 'paid' FROM autopay_drafts", worker)
                await wait_for(pool, "SELECT count(*) = 1 FROM outbox", worker)  # the receipt, from billing-notices
            finally:
                worker.send_signal(signal.SIGTERM)
                async with asyncio.timeout(15):
                    await worker.wait()
        errors = log_path.read_text()
        assert worker.returncode == 0, errors

        invoices = await pool.fetch("SELECT customer_id, period, total FROM invoices ORDER BY customer_id")
        assert [tuple(row) for row in invoices] == [
            (payer.customer_id, period, Decimal("39.99")),
            (other.customer_id, period, Decimal("25.00")),
        ]
        payment = await pool.fetchrow("SELECT customer_id, source, status, amount FROM payments")
        assert tuple(payment) == (payer.customer_id, "autopay", "succeeded", Decimal("39.99"))
        assert await pool.fetchval("SELECT count(*) FROM sandbox_charges") == 1
        assert await pool.fetchval("SELECT count(*) FROM billing_notices") == 0
        assert await pool.fetchval("SELECT recipient FROM outbox") == "alpha@example.com"
        runs = {row["job"] for row in await pool.fetch("SELECT job FROM job_runs WHERE status = 'done'")}
        assert {"billing-cycle", "autopay"} <= runs
        assert '"autopay ran"' in errors and "4242424242424242" not in errors
    finally:
        await pool.close()
