"""The worker's own /healthz and /metrics on `worker.metrics_listen`: its database, its job runners, its jobs, the
outbox, the incident opener's backlog, the partitions of signals ahead."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime

import asyncpg
from aiohttp import web
from prometheus_client import CollectorRegistry
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from shared.db import Pool
from shared.health import HEALTH_QUERY_TIMEOUT, database_state, health_response, readiness_states
from shared.http_server import metrics_response, small_server
from shared.incidents.opener import OpenerBacklog, opener_backlog
from shared.job_status import JobMetrics, RunningJobs
from shared.outbox import pending_backlog
from shared.signal_partitions import stored_until


@dataclass(frozen=True, slots=True)
class _Reading:
    outbox: tuple[int, float]  # mails waiting, seconds the oldest has waited
    opener: OpenerBacklog | None  # None before the opener's first start
    stored_until: datetime | None  # the end of the last partition of signals
    at: datetime


class ClusterState(Collector):
    """What every worker reports of the whole installation, read from the database when /metrics is scraped: the
    outbox's backlog, the incident opener's, how far ahead signals can be stored. Absent when that read failed."""

    def __init__(self) -> None:
        self.reading: _Reading | None = None

    async def refresh(self, pool: Pool) -> None:
        try:
            async with asyncio.timeout(HEALTH_QUERY_TIMEOUT), pool.acquire() as connection:
                self.reading = _Reading(
                    await pending_backlog(connection),
                    await opener_backlog(connection),
                    await stored_until(connection),
                    datetime.now(UTC),
                )
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, TimeoutError):
            self.reading = None

    def collect(self) -> Iterator[Metric]:
        if (reading := self.reading) is None:
            return
        waiting, oldest = reading.outbox
        yield GaugeMetricFamily("alarmhub_worker_outbox_pending", "Mails in the outbox waiting to be sent.", waiting)
        yield GaugeMetricFamily(
            "alarmhub_worker_outbox_oldest_pending_seconds",
            "How long the oldest mail waiting in the outbox has waited (0 when none waits).",
            oldest,
        )
        if reading.opener is not None:
            yield GaugeMetricFamily(
                "alarmhub_worker_incident_opener_behind_seconds",
                "How long the next committed signal the incident opener will take up has waited since it was received "
                "(0 when none waits).",
                reading.opener.behind_seconds,
            )
            yield GaugeMetricFamily(
                "alarmhub_worker_incident_opener_cursor_ahead",
                "1 when the incident opener's cursor is ahead of the database's transactions (restored into another "
                "cluster without `alarmhub admin after-restore`): it opens no incident until realigned.",
                int(reading.opener.cursor_ahead),
            )
        if reading.stored_until is not None:
            yield GaugeMetricFamily(
                "alarmhub_worker_signal_partitions_ahead_seconds",
                "Time from now to the end of the last partition of signals; a signal received after it cannot be "
                "stored (negative: already refused).",
                (reading.stored_until - reading.at).total_seconds(),
            )


@asynccontextmanager
async def worker_server(
    listen: tuple[str, int] | None, pool: Pool, jobs: RunningJobs, runners_alive: Callable[[], bool]
) -> AsyncIterator[str | None]:
    """Serve the worker's GET /healthz and /metrics on `listen` (HOST, PORT) until the block exits; yields the base
    URL, or None when off. /healthz: "database" (SELECT 1 answers within 2 s) and "jobs" (`runners_alive`: every
    task running a job, and the outbox sender, still runs). /metrics: the process's registry, then the jobs
    (shared/job_status.py) and the installation's state (ClusterState)."""
    if listen is None:
        yield None
        return
    cluster = ClusterState()
    own = CollectorRegistry(auto_describe=False)
    own.register(JobMetrics(jobs))
    own.register(cluster)

    async def healthz(_: web.Request) -> web.Response:
        report = {"database": await database_state(pool)} | readiness_states({"jobs": runners_alive})
        return health_response(report)

    async def metrics(_: web.Request) -> web.Response:
        await cluster.refresh(pool)
        return metrics_response(own)

    async with small_server(listen, {"/healthz": healthz, "/metrics": metrics}) as url:
        yield url
