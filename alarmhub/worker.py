"""The background worker: delivers the e-mail outbox and runs the jobs of shared/jobs.py (singletons, continuous jobs
and queues)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from datetime import UTC, datetime
from functools import partial
from zoneinfo import ZoneInfo

from alarmhub.worker_http import worker_server
from shared.billing.autopay import run_autopay
from shared.billing.cycle import run_current_cycle
from shared.billing.gateway import gateway_from_config
from shared.billing.notices import billing_notices_job
from shared.config import Config
from shared.db import Pool, pool_from_config
from shared.dc09_rotation import forget_expired_dc09_keys
from shared.incidents.opener import opener_job
from shared.incidents.supervision import supervision_job
from shared.jobs import RESTART_DELAYS, Job, Singleton, running_jobs, supervised
from shared.logs import get_logger
from shared.mail import SmtpSettings, SmtpTransport
from shared.outbox import OutboxSender, pending_count
from shared.signal_partitions import partitions_job
from shared.users import prune_login_records

log = get_logger(__name__)


async def prune_login_records_tick(pool: Pool) -> None:
    """The hourly housekeeping: ended sessions, used links and old failed logins, and the DC-09 keys whose rotation
    overlap has ended (receivers refuse them already; they need not stay in the table)."""
    async with pool.acquire() as connection:
        deleted = await prune_login_records(connection)
        forgotten = await forget_expired_dc09_keys(connection)
    log.info("login records pruned", **deleted, expired_dc09_keys=forgotten)


async def billing_cycle_tick(config: Config, pool: Pool) -> None:
    """Issue this month's invoices; a run finds what is missing."""
    await run_current_cycle(pool, config)


async def autopay_tick(config: Config, pool: Pool) -> None:
    """Draft what autopay customers owe on their draft day, retry declines, settle unanswered charges."""
    now = datetime.now(UTC)
    await run_autopay(
        pool,
        gateway_from_config(config, pool),
        today=now.astimezone(ZoneInfo(config["portal.timezone"])).date(),
        now=now,
        retries=config["billing.autopay_retries"],
        retry_hours=config["billing.autopay_retry_hours"],
        reconcile_after=config["billing.reconcile_after"],
    )


def worker_jobs(config: Config) -> list[Job]:
    """Every job the worker runs. A new singleton is one line here, its tick a function taking the pool (it must be
    idempotent), and its interval a documented `worker.*_interval` key in shared/config.py."""
    return [
        Singleton("prune-login-records", config["worker.housekeeping_interval"], prune_login_records_tick),
        Singleton("billing-cycle", config["worker.billing_interval"], partial(billing_cycle_tick, config)),
        Singleton("autopay", config["worker.autopay_interval"], partial(autopay_tick, config)),
        billing_notices_job(config),
        # Issue 14: alarms become incidents (a continuous job following the signals), silent panels are supervised.
        opener_job(config),
        supervision_job(config),
        # Issue 16: signals' monthly partitions kept ahead (sql/0025_signals_partitioned.sql).
        partitions_job(config),
    ]


def describe_mail(config: Config) -> str:
    """Where mail goes, for the startup banner; never the URL itself (it may hold a password)."""
    url: str = config["email.smtp_url"]
    if not url:
        return "kept in the outbox (email.smtp_url is empty; admins read it at /admin/outbox)"
    settings = SmtpSettings.from_url(url)
    return f"sent by SMTP via {settings.hostname}:{settings.port}"


@asynccontextmanager
async def worker_service(config: Config, database_url: str) -> AsyncIterator[None]:
    """Run the background jobs until the block exits, and serve their /healthz and /metrics when
    `worker.metrics_listen` is set."""
    pool = await pool_from_config(config, database_url)
    async with AsyncExitStack() as stack:
        stack.push_async_callback(pool.close)
        jobs = await stack.enter_async_context(
            running_jobs(pool, database_url, worker_jobs(config), restarts=RESTART_DELAYS)
        )
        background: list[asyncio.Task[None]] = []
        smtp_url: str = config["email.smtp_url"]
        if smtp_url:
            sender = OutboxSender(pool, SmtpTransport(smtp_url), sender=config["email.from_address"])
            poll_interval = config["email.poll_interval"]
            outbox = _background("outbox", lambda: sender.run(database_url=database_url, poll_interval=poll_interval))
            background.append(await stack.enter_async_context(outbox))
        else:
            async with pool.acquire() as connection:
                waiting = await pending_count(connection)
            log.info("email.smtp_url is empty: mail stays in the outbox", waiting=waiting)

        def runners_alive() -> bool:
            return jobs.alive() and not any(task.done() for task in background)

        url = await stack.enter_async_context(worker_server(config["worker.metrics_listen"], pool, jobs, runners_alive))
        if url is not None:
            log.info("worker health and metrics served", healthz=f"{url}/healthz", metrics=f"{url}/metrics")
        yield


@asynccontextmanager
async def _background(name: str, task: Callable[[], Awaitable[None]]) -> AsyncIterator[asyncio.Task[None]]:
    running = asyncio.create_task(supervised(name, task, RESTART_DELAYS), name=name)
    try:
        yield running
    finally:
        running.cancel()
        await asyncio.gather(running, return_exceptions=True)
