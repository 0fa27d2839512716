"""The worker's own /healthz and /metrics on `worker.metrics_listen`: its database, its job runners, its jobs, the
outbox, the incident opener's backlog, the partitions of signals ahead."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import TypeVar

from aiohttp import web
from prometheus_client import CollectorRegistry
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from shared.db import Connection, Pool
from shared.health import (
    HEALTH_QUERY_TIMEOUT,
    READ_FAILED,
    answered_within,
    database_state,
    health_response,
    readiness_states,
)
from shared.http_server import metrics_response, small_server
from shared.incidents.opener import OpenerBacklog, opener_backlog
from shared.job_status import JobMetrics, RunningJobs
from shared.outbox import pending_backlog
from shared.signal_partitions import stored_until

T = TypeVar("T")


async def _read(pool: Pool, read: Callable[[Connection], Awaitable[T | None]]) -> T | None:
    """One read of the installation's state, within HEALTH_QUERY_TIMEOUT; None when it did not answer (or had
    nothing to report): its series are then left out."""

    async def run() -> T | None:
        async with pool.acquire() as connection:
            return await read(connection)

    try:
        return await answered_within(HEALTH_QUERY_TIMEOUT, run())
    except READ_FAILED:
        return None


class ClusterState(Collector):
    """What every worker reports of the whole installation, read from the database when /metrics is scraped: the
    outbox's backlog, the incident opener's, how far ahead signals can be stored. Each read on its own, so one that
    fails or times out (its series are then absent) does not hide the others."""

    def __init__(self) -> None:
        self.outbox: tuple[int, float] | None = None  # mails waiting, seconds the oldest has waited
        self.opener: OpenerBacklog | None = None  # also None before the opener's first start
        self.stored_until: datetime | None = None  # the end of the last partition of signals
        self.at = datetime.now(UTC)

    async def refresh(self, pool: Pool) -> None:
        """Read all three at once (a scrape takes at most HEALTH_QUERY_TIMEOUT), then keep them together."""
        outbox, opener, until = await asyncio.gather(
            _read(pool, pending_backlog), _read(pool, opener_backlog), _read(pool, stored_until)
        )
        self.outbox, self.opener, self.stored_until, self.at = outbox, opener, until, datetime.now(UTC)

    def collect(self) -> Iterator[Metric]:
        if self.outbox is not None:
            waiting, oldest = self.outbox
            yield GaugeMetricFamily(
                "alarmhub_worker_outbox_pending", "Mails in the outbox waiting to be sent.", waiting
            )
            yield GaugeMetricFamily(
                "alarmhub_worker_outbox_oldest_pending_seconds",
                "How long the oldest mail waiting in the outbox has waited (0 when none waits).",
                oldest,
            )
        if self.opener is not None:
            yield GaugeMetricFamily(
                "alarmhub_worker_incident_opener_behind_seconds",
                "How long the next committed signal the incident opener will take up has waited since it was received "
                "(0 when none waits); signals held back behind an open transaction count.",
                self.opener.behind_seconds,
            )
            yield GaugeMetricFamily(
                "alarmhub_worker_incident_opener_cursor_ahead",
                "1 when the incident opener's cursor is ahead of the database's transactions (restored into another "
                "cluster without `alarmhub admin after-restore`): it opens no incident until realigned.",
                int(self.opener.cursor_ahead),
            )
        if self.stored_until is not None:
            yield GaugeMetricFamily(
                "alarmhub_worker_signal_partitions_ahead_seconds",
                "Time from now to the end of the last partition of signals; a signal received after it cannot be "
                "stored (negative: already refused).",
                (self.stored_until - self.at).total_seconds(),
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
