"""What a process knows of its jobs, as /metrics shows it: who leads, ticks by outcome, when the last one ended."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import asyncpg
from prometheus_client import CollectorRegistry

from shared.job_status import JobMetrics, RunningJobs
from shared.jobs import Continuous, Singleton, running_jobs
from tests.shared.test_jobs import FAST, QUICK_RESTARTS


def registry_of(jobs: RunningJobs) -> CollectorRegistry:
    registry = CollectorRegistry()
    registry.register(JobMetrics(jobs))
    return registry


def value(registry: CollectorRegistry, name: str, **labels: str) -> float | None:
    return registry.get_sample_value(name, labels)


async def until(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    async with asyncio.timeout(timeout):
        while not condition():  # noqa: ASYNC110 - polling the runner's record
            await asyncio.sleep(0.05)


async def test_the_leader_counts_its_ticks_by_outcome_and_a_standby_shows_zero(
    db: asyncpg.Pool, database_url: str
) -> None:
    calls: list[float] = []

    async def tick(pool: asyncpg.Pool) -> None:
        calls.append(time.time())
        if len(calls) == 1:
            raise RuntimeError("the first tick trips")

    async def follow(pool: asyncpg.Pool, url: str) -> None:
        await asyncio.Event().wait()

    jobs = [Singleton("flaky", 0.3, tick), Continuous("follower", follow)]
    async with running_jobs(db, database_url, jobs, holder="a:1", leadership=FAST, restarts=QUICK_RESTARTS) as lead:
        leader = registry_of(lead)
        await until(lambda: lead.status["flaky"].ticks_done >= 1 and lead.status["follower"].leading)
        async with running_jobs(
            db, database_url, jobs, holder="b:2", leadership=FAST, restarts=QUICK_RESTARTS
        ) as standby:
            await asyncio.sleep(0.3)
            backup = registry_of(standby)
            assert value(backup, "alarmhub_worker_job_leader", job="flaky") == 0
            assert value(backup, "alarmhub_worker_job_leader", job="follower") == 0
            assert value(backup, "alarmhub_worker_job_ticks_total", job="flaky", outcome="done") == 0
            assert value(backup, "alarmhub_worker_job_last_tick_end_timestamp_seconds", job="flaky") is None
        assert value(leader, "alarmhub_worker_job_leader", job="flaky") == 1
        assert value(leader, "alarmhub_worker_job_leader", job="follower") == 1
        assert value(leader, "alarmhub_worker_job_ticks_total", job="flaky", outcome="failed") == 1
        done = value(leader, "alarmhub_worker_job_ticks_total", job="flaky", outcome="done")
        assert done is not None and done >= 1
        ended = value(leader, "alarmhub_worker_job_last_tick_end_timestamp_seconds", job="flaky")
        assert ended is not None and calls[-1] <= ended <= time.time()
        assert value(leader, "alarmhub_worker_job_ticks_total", job="follower", outcome="done") is None, "no ticks"
        assert lead.alive()
        lead.tasks[0].cancel()
        await asyncio.gather(lead.tasks[0], return_exceptions=True)
        assert not lead.alive(), "a runner that ended is no longer alive"
        assert value(leader, "alarmhub_worker_job_leader", job="flaky") == 0, "cancelled: it leads no more"
