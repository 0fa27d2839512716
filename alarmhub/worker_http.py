"""The worker's own /healthz and /metrics on `worker.metrics_listen`: its database, its job runners, its jobs, the
outbox."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager

import asyncpg
from aiohttp import web
from prometheus_client import CollectorRegistry
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from shared.db import Pool
from shared.health import HEALTH_QUERY_TIMEOUT, database_state, health_response, readiness_states
from shared.http_server import metrics_response, small_server
from shared.job_status import JobMetrics, RunningJobs
from shared.outbox import pending_backlog


class OutboxBacklog(Collector):
    """The outbox's backlog, read from the database when /metrics is scraped; absent when that read failed."""

    def __init__(self) -> None:
        self.sample: tuple[int, float] | None = None

    async def refresh(self, pool: Pool) -> None:
        try:
            async with asyncio.timeout(HEALTH_QUERY_TIMEOUT), pool.acquire() as connection:
                self.sample = await pending_backlog(connection)
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, TimeoutError):
            self.sample = None

    def collect(self) -> Iterator[Metric]:
        if self.sample is None:
            return
        waiting, oldest = self.sample
        yield GaugeMetricFamily("alarmhub_worker_outbox_pending", "Mails in the outbox waiting to be sent.", waiting)
        yield GaugeMetricFamily(
            "alarmhub_worker_outbox_oldest_pending_seconds",
            "How long the oldest mail waiting in the outbox has waited (0 when none waits).",
            oldest,
        )


@asynccontextmanager
async def worker_server(
    listen: tuple[str, int] | None, pool: Pool, jobs: RunningJobs, runners_alive: Callable[[], bool]
) -> AsyncIterator[str | None]:
    """Serve the worker's GET /healthz and /metrics on `listen` (HOST, PORT) until the block exits; yields the base
    URL, or None when off. /healthz: "database" (SELECT 1 answers within 2 s) and "jobs" (`runners_alive`: every
    task running a job, and the outbox sender, still runs). /metrics: the process's registry, then the jobs
    (shared/job_status.py) and the outbox backlog."""
    if listen is None:
        yield None
        return
    outbox = OutboxBacklog()
    own = CollectorRegistry(auto_describe=False)
    own.register(JobMetrics(jobs))
    own.register(outbox)

    async def healthz(_: web.Request) -> web.Response:
        report = {"database": await database_state(pool)} | readiness_states({"jobs": runners_alive})
        return health_response(report)

    async def metrics(_: web.Request) -> web.Response:
        await outbox.refresh(pool)
        return metrics_response(own)

    async with small_server(listen, {"/healthz": healthz, "/metrics": metrics}) as url:
        yield url
