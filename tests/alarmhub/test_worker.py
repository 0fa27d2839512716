"""The background worker: `alarmhub worker` sends the outbox over SMTP; without SMTP mail waits in the outbox."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from pathlib import Path

import asyncpg
import pytest

from alarmhub import worker
from alarmhub.worker import describe_mail, worker_service
from bench.smtp_inbox import smtp_server
from shared.config import load_config
from shared.outbox import Mail, OutboxSender, RetryPolicy, enqueue_mail
from tests.conftest import REPO, free_port


async def queue(database_url: str, mail: Mail) -> None:
    connection = await asyncpg.connect(database_url)
    try:
        await enqueue_mail(connection, mail)
    finally:
        await connection.close()


async def test_the_worker_service_sends_queued_mail(database_url: str, tmp_path: Path) -> None:
    port = free_port()
    config = load_config(None, environ={"ALARMHUB_EMAIL_SMTP_URL": f"smtp://127.0.0.1:{port}"})
    with smtp_server(port) as inbox:
        async with worker_service(config, database_url):
            await queue(database_url, Mail("dee@example.com", "Welcome", "hello"))
            await inbox.wait_for(1)
    assert inbox.messages[0]["To"] == "dee@example.com"
    assert describe_mail(config) == f"sent by SMTP via 127.0.0.1:{port}"


async def test_without_smtp_the_worker_leaves_mail_in_the_outbox(database_url: str) -> None:
    config = load_config(None, environ={})
    await queue(database_url, Mail("eve@example.com", "Welcome", "hello"))
    async with worker_service(config, database_url):
        await asyncio.sleep(0.1)
    connection = await asyncpg.connect(database_url)
    try:
        assert await connection.fetchval("SELECT status FROM outbox") == "pending"
    finally:
        await connection.close()
    assert "kept in the outbox" in describe_mail(config)


async def test_a_worker_task_that_dies_is_logged_and_restarted(
    database_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    crashes = []
    deliver_one = OutboxSender.deliver_one

    async def crash_once(self: OutboxSender) -> bool:
        if not crashes:
            crashes.append(1)
            raise RuntimeError("a bug nobody foresaw")
        return await deliver_one(self)

    monkeypatch.setattr(OutboxSender, "deliver_one", crash_once)  # the database and SMTP server stay real
    monkeypatch.setattr(worker, "RESTART_DELAYS", RetryPolicy(0.05, 0.2))
    port = free_port()
    config = load_config(None, environ={"ALARMHUB_EMAIL_SMTP_URL": f"smtp://127.0.0.1:{port}"})
    await queue(database_url, Mail("gil@example.com", "Hi", "hello"))
    with smtp_server(port) as inbox:
        async with worker_service(config, database_url):
            await inbox.wait_for(1)
    assert crashes and inbox.messages[0]["To"] == "gil@example.com"
    captured = capsys.readouterr()
    assert "worker task died" in captured.out + captured.err


async def recorded_as_sent(database_url: str, timeout: float = 15) -> None:
    connection = await asyncpg.connect(database_url)
    try:
        async with asyncio.timeout(timeout):
            while not await connection.fetchval("SELECT bool_and(status = 'sent') FROM outbox"):  # noqa: ASYNC110
                await asyncio.sleep(0.05)
    finally:
        await connection.close()


@pytest.mark.slow
def test_alarmhub_worker_command_sends_and_stops_on_sigterm(database_url: str) -> None:
    port = free_port()
    asyncio.run(queue(database_url, Mail("fay@example.com", "Hi", "token-free body")))
    env = {k: v for k, v in os.environ.items() if not k.startswith("ALARMHUB_")} | {
        "ALARMHUB_DATABASE_URL": database_url,
        "ALARMHUB_EMAIL_SMTP_URL": f"smtp://127.0.0.1:{port}",
        "ALARMHUB_EMAIL_POLL_INTERVAL": "0.2",
        "ALARMHUB_LOG_FORMAT": "json",
    }
    with smtp_server(port) as inbox:
        worker = subprocess.Popen(
            [sys.executable, "-m", "alarmhub", "worker"], cwd=REPO, env=env, stderr=subprocess.PIPE, text=True
        )
        try:
            asyncio.run(inbox.wait_for(1, timeout=30))
            asyncio.run(recorded_as_sent(database_url))  # the SMTP server has it; wait for the worker's bookkeeping
        finally:
            worker.send_signal(signal.SIGTERM)
            _, errors = worker.communicate(timeout=15)
    assert worker.returncode == 0, errors
    assert inbox.messages[0]["To"] == "fay@example.com"
    assert '"mail sent"' in errors and "fay@example.com" in errors
