"""The worker's /healthz and /metrics on worker.metrics_listen: its database, its job runners, its jobs, the outbox,
the incident opener's backlog and the partitions of signals ahead."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import asyncpg
import pytest
from prometheus_client import CollectorRegistry, generate_latest

from alarmhub.worker import worker_service
from alarmhub.worker_http import ClusterState, worker_server
from shared.config import ConfigError, load_config
from shared.db import create_pool
from shared.incidents.opener import JOB
from shared.incidents.queries import start_cursor
from shared.jobs import Singleton, running_jobs
from shared.outbox import Mail
from shared.signal_cursor import cursor_now
from tests.alarmhub.test_worker import queue
from tests.conftest import REPO, free_port
from tests.shared.test_health import freezing_proxy, promptly
from tests.shared.test_jobs import FAST, QUICK_RESTARTS


async def get(url: str) -> tuple[int, Any]:
    async with aiohttp.ClientSession() as session, session.get(url) as response:
        body = await response.json() if response.content_type == "application/json" else await response.text()
        return response.status, body


def samples(text: str, prefix: str = "alarmhub_worker_") -> dict[str, float]:
    pairs = (line.rsplit(" ", 1) for line in text.splitlines() if line.startswith(prefix))
    return {name: float(number) for name, number in pairs}


async def test_the_worker_serves_its_health_and_its_jobs_and_outbox_metrics(database_url: str) -> None:
    port = free_port()
    config = load_config(
        None,
        environ={
            "ALARMHUB_WORKER_METRICS_LISTEN": f"127.0.0.1:{port}",
            "ALARMHUB_WORKER_HOUSEKEEPING_INTERVAL": "0.5",
        },
    )
    await queue(database_url, Mail("hal@example.com", "Welcome", "hello"))  # no SMTP: it waits in the outbox
    base = f"http://127.0.0.1:{port}"
    async with worker_service(config, database_url):
        assert await get(f"{base}/healthz") == (200, {"database": "ok", "jobs": "ok"})
        metrics: dict[str, float] = {}
        for _ in range(100):
            status, text = await get(f"{base}/metrics")
            metrics = samples(text)
            ticked = metrics.get('alarmhub_worker_job_ticks_total{job="prune-login-records",outcome="done"}', 0) >= 1
            if ticked and "alarmhub_worker_incident_opener_behind_seconds" in metrics:  # the opener has its cursor
                break
            await asyncio.sleep(0.1)
        assert status == 200
    assert metrics['alarmhub_worker_job_leader{job="prune-login-records"}'] == 1, "the only worker leads"
    assert metrics['alarmhub_worker_job_leader{job="incident-opener"}'] in (0, 1)
    assert not any('job="billing-notices"' in name for name in metrics), "a queue job has no leader and no ticks"
    assert metrics['alarmhub_worker_job_ticks_total{job="prune-login-records",outcome="failed"}'] == 0
    assert metrics['alarmhub_worker_job_last_tick_end_timestamp_seconds{job="prune-login-records"}'] > 0
    assert metrics["alarmhub_worker_outbox_pending"] == 1
    assert 0 <= metrics["alarmhub_worker_outbox_oldest_pending_seconds"] < 60
    assert metrics["alarmhub_worker_incident_opener_behind_seconds"] == 0, "no signal waits"
    assert metrics["alarmhub_worker_incident_opener_cursor_ahead"] == 0
    connection = await asyncpg.connect(database_url)
    try:
        end = await connection.fetchval("SELECT max(to_at) FROM signal_partitions")
    finally:
        await connection.close()
    ahead = metrics["alarmhub_worker_signal_partitions_ahead_seconds"]
    assert abs(time.time() + ahead - end.timestamp()) < 60, "from now to the end of the last partition"
    assert ahead > 89 * 86400, "at least this month's partition and the next 3 months' (worker.partitions_ahead)"
    assert "process_open_fds" in text, "the process's own metrics come first"


async def test_unhealthy_names_the_database_or_the_job_runners(database_url: str) -> None:
    async def tick(pool: asyncpg.Pool) -> None:
        pass

    port = free_port()
    base = f"http://127.0.0.1:{port}"
    pool = await create_pool(database_url, min_size=1, max_size=2)
    jobs = [Singleton("quiet", 60, tick)]
    async with (
        running_jobs(pool, database_url, jobs, leadership=FAST, restarts=QUICK_RESTARTS) as running,
        worker_server(("127.0.0.1", port), pool, running, running.alive) as url,
    ):
        assert url == base
        assert await get(f"{base}/healthz") == (200, {"database": "ok", "jobs": "ok"})
        running.tasks[0].cancel()
        await asyncio.gather(*running.tasks, return_exceptions=True)
        assert await get(f"{base}/healthz") == (503, {"database": "ok", "jobs": "not ready"})
        await pool.execute("INSERT INTO job_cursors (job, xact, id) VALUES ($1, 1, 0)", JOB)  # as after a start
        status, text = await get(f"{base}/metrics")
        for present in (
            "alarmhub_worker_outbox",
            "alarmhub_worker_incident_opener",
            "alarmhub_worker_signal_partitions",
        ):
            assert present in text, "read from the database while it answers"
        await pool.close()  # the database goes away under the running worker
        assert await get(f"{base}/healthz") == (503, {"database": "unavailable", "jobs": "not ready"})
        status, text = await get(f"{base}/metrics")
        assert status == 200, text
        for absent in (
            "alarmhub_worker_outbox",
            "alarmhub_worker_incident_opener",
            "alarmhub_worker_signal_partitions",
        ):
            assert absent not in text, "nothing of the installation reported when it cannot be read"
        assert 'alarmhub_worker_job_leader{job="quiet"} 0.0' in text


async def scrape(state: ClusterState, pool: asyncpg.Pool) -> dict[str, float]:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(state)
    await state.refresh(pool)
    return samples(generate_latest(registry).decode())


async def test_the_installation_s_state_is_read_at_each_scrape_each_part_on_its_own(database_url: str) -> None:
    state = ClusterState()
    pool = await create_pool(database_url, min_size=1, max_size=4)  # the locker's, and the three reads'
    try:
        assert "alarmhub_worker_incident_opener_behind_seconds" not in await scrape(state, pool), "no opener yet"
        async with pool.acquire() as connection:
            await start_cursor(connection, JOB, await cursor_now(connection))
            await connection.execute(
                "INSERT INTO signals (account, transport, sequence, format, code, qualifier, category, priority,"
                " description, raw_frame, received_at) VALUES ('1234', 'tcp', '0001', 'ADM-CID', '130', 'event',"
                " 'alarm', 3, 'Burglary alarm', '\\x00', $1)",
                datetime.now(UTC) - timedelta(minutes=10),  # on this process's clock, as the metric's "now"
            )
        metrics = await scrape(state, pool)
        assert 600 <= metrics["alarmhub_worker_incident_opener_behind_seconds"] < 660, "no opener takes it up"
        assert metrics["alarmhub_worker_incident_opener_cursor_ahead"] == 0

        async with pool.acquire() as connection:
            ahead = await connection.fetchval("SELECT pg_current_xact_id()::text::bigint + 1000000000")
            await connection.execute("UPDATE job_cursors SET xact = $2, id = 0 WHERE job = $1", JOB, ahead)
        metrics = await scrape(state, pool)
        assert metrics["alarmhub_worker_incident_opener_cursor_ahead"] == 1, "restored without after-restore"
        assert metrics["alarmhub_worker_incident_opener_behind_seconds"] == 0

        await pool.execute("ALTER TABLE job_cursors RENAME TO job_cursors_away")  # the opener's read fails alone
        try:
            metrics = await scrape(state, pool)
        finally:
            await pool.execute("ALTER TABLE job_cursors_away RENAME TO job_cursors")
        assert not any(name.startswith("alarmhub_worker_incident") for name in metrics), metrics
        assert metrics["alarmhub_worker_outbox_pending"] == 0
        assert metrics["alarmhub_worker_signal_partitions_ahead_seconds"] > 0

        async with pool.acquire() as connection:  # the cursor back in the present: its read must read signals
            now = await cursor_now(connection)
            await connection.execute("UPDATE job_cursors SET xact = $2, id = 0 WHERE job = $1", JOB, now.xact)
        async with pool.acquire() as locker, locker.transaction():  # signals unreadable: those reads time out
            await locker.execute("LOCK TABLE signals IN ACCESS EXCLUSIVE MODE")
            metrics = await promptly(scrape(state, pool))  # the reads waiting on the lock are given up
        assert not any(name.startswith(("alarmhub_worker_incident", "alarmhub_worker_signal")) for name in metrics), (
            metrics
        )
        assert metrics["alarmhub_worker_outbox_pending"] == 0, "the outbox's read answers on its own"
    finally:
        await pool.close()


async def test_a_database_that_stops_answering_leaves_a_scrape_prompt_and_empty(database_url: str) -> None:
    state = ClusterState()
    async with freezing_proxy(database_url) as proxy:
        pool = await create_pool(proxy.url(database_url), min_size=1, max_size=3)
        try:
            assert "alarmhub_worker_outbox_pending" in await scrape(state, pool)
            proxy.frozen.set()
            metrics = await promptly(scrape(state, pool))  # three reads at once, each given up after 2 s
            assert not any(name.startswith("alarmhub_worker_") for name in metrics), metrics
        finally:
            pool.terminate()


def test_off_unless_worker_metrics_listen_names_an_address() -> None:
    assert load_config(None, environ={})["worker.metrics_listen"] is None
    with pytest.raises(ConfigError) as caught:
        load_config(None, environ={"ALARMHUB_WORKER_METRICS_LISTEN": "9100"})
    assert caught.value.key == "worker.metrics_listen"


@pytest.mark.slow
def test_alarmhub_worker_serves_healthz_on_worker_metrics_listen(database_url: str) -> None:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("ALARMHUB_")} | {
        "ALARMHUB_DATABASE_URL": database_url,
        "ALARMHUB_WORKER_METRICS_LISTEN": f"127.0.0.1:{port}",
    }
    process = subprocess.Popen([sys.executable, "-m", "alarmhub", "worker"], cwd=REPO, env=env)
    answer: tuple[int, Any] | None = None
    try:
        for _ in range(300):
            try:
                answer = asyncio.run(get(f"http://127.0.0.1:{port}/healthz"))
                break
            except aiohttp.ClientConnectionError:
                time.sleep(0.1)
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=20)
    assert answer == (200, {"database": "ok", "jobs": "ok"})
    assert process.returncode == 0
