"""The background worker: delivers the e-mail outbox; later background jobs join it as their features land."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from shared.config import Config
from shared.db import pool_from_config
from shared.logs import get_logger
from shared.mail import SmtpSettings, SmtpTransport
from shared.outbox import OutboxSender, pending_count

log = get_logger(__name__)


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
    try:
        smtp_url: str = config["email.smtp_url"]
        if not smtp_url:
            async with pool.acquire() as connection:
                waiting = await pending_count(connection)
            log.info("email.smtp_url is empty: mail stays in the outbox", waiting=waiting)
            yield
            return
        sender = OutboxSender(pool, SmtpTransport(smtp_url), sender=config["email.from_address"])
        task = asyncio.create_task(sender.run(poll_interval=config["email.poll_interval"]), name="outbox")
        try:
            yield
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
    finally:
        await pool.close()
