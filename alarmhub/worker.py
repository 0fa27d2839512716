"""The background worker: delivers the e-mail outbox and prunes old login records; later jobs join it."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import asyncpg

from shared.config import Config
from shared.db import pool_from_config
from shared.logs import get_logger
from shared.mail import SmtpSettings, SmtpTransport
from shared.outbox import OutboxSender, RetryPolicy, pending_count
from shared.users import prune_login_records

log = get_logger(__name__)
HOUSEKEEPING_INTERVAL = 3600.0
# Pauses before a job that died is started again: 1 s, 2 s, 4 s ... at most a minute.
RESTART_DELAYS = RetryPolicy(base_delay=1.0, max_delay=60.0)


async def _supervised(name: str, job: Callable[[], Awaitable[None]]) -> None:
    """Run `job` for ever; when it dies of an error nobody foresaw, log it and start it again after a pause.

    Without this a dead task went unnoticed while the process kept running: no mail went out until a restart.
    """
    crashes = 0
    while True:
        started = time.monotonic()
        try:
            await job()
            log.error("worker task ended", task=name)
        except Exception:
            log.exception("worker task died", task=name)
        policy = RESTART_DELAYS
        crashes = 1 if time.monotonic() - started > policy.max_delay else crashes + 1  # a long good run forgives
        delay = policy.delay(crashes)
        log.info("worker task restarts", task=name, delay=delay)
        await asyncio.sleep(delay)


async def _housekeeping(pool: asyncpg.Pool, interval: float) -> None:
    """Prune the login tables now and then; several workers doing it at once only find less to delete."""
    while True:
        try:
            async with pool.acquire() as connection:
                deleted = await prune_login_records(connection)
            log.info("login records pruned", **deleted)
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as error:
            log.warning("housekeeping skipped", error=f"{type(error).__name__}: {error}")
        await asyncio.sleep(interval)


def describe_mail(config: Config) -> str:
    """Where mail goes, for the startup banner; never the URL itself (it may hold a password)."""
    url: str = config["email.smtp_url"]
    if not url:
        return "kept in the outbox (email.smtp_url is empty; admins read it at /admin/outbox)"
    settings = SmtpSettings.from_url(url)
    return f"sent by SMTP via {settings.hostname}:{settings.port}"


@asynccontextmanager
async def worker_service(config: Config, database_url: str) -> AsyncIterator[None]:
    """Run the background jobs until the block exits."""
    pool = await pool_from_config(config, database_url)
    tasks = [
        asyncio.create_task(
            _supervised("housekeeping", lambda: _housekeeping(pool, HOUSEKEEPING_INTERVAL)), name="housekeeping"
        )
    ]
    try:
        smtp_url: str = config["email.smtp_url"]
        if smtp_url:
            sender = OutboxSender(pool, SmtpTransport(smtp_url), sender=config["email.from_address"])
            poll_interval = config["email.poll_interval"]
            tasks.append(
                asyncio.create_task(
                    _supervised("outbox", lambda: sender.run(poll_interval=poll_interval)), name="outbox"
                )
            )
        else:
            async with pool.acquire() as connection:
                waiting = await pending_count(connection)
            log.info("email.smtp_url is empty: mail stays in the outbox", waiting=waiting)
        yield
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await pool.close()
