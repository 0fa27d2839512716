"""Continuous jobs on a real PostgreSQL: led like a singleton (one leader by advisory lock), run without pause while
leading, cancelled at once when the lock's connection dies, taken over by a standby; a run that returns gives
leadership up and is started again."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg

from shared.jobs import Continuous, Leadership, lock_key, running_jobs
from shared.outbox import RetryPolicy

FAST = Leadership(retry=0.1, heartbeat=0.2, heartbeat_timeout=1.0)
QUICK_RESTARTS = RetryPolicy(base_delay=0.05, max_delay=0.2)


@asynccontextmanager
async def runner(db: asyncpg.Pool, url: str, holder: str, job: Continuous) -> AsyncIterator[None]:
    async with running_jobs(db, url, [job], holder=holder, leadership=FAST, restarts=QUICK_RESTARTS):
        yield


async def wait_until(condition: object, timeout: float = 10.0) -> None:
    assert callable(condition)
    async with asyncio.timeout(timeout):
        while not condition():  # noqa: ASYNC110 - polling what the job recorded
            await asyncio.sleep(0.02)


async def test_one_leader_runs_and_a_standby_takes_over_when_its_lock_connection_dies(
    db: asyncpg.Pool, database_url: str
) -> None:
    events: list[str] = []
    running: set[str] = set()
    overlap: list[set[str]] = []

    def follower(holder: str) -> Continuous:
        async def run(pool: asyncpg.Pool, url: str) -> None:
            assert url == database_url
            events.append(f"{holder} started")
            running.add(holder)
            if len(running) > 1:
                overlap.append(set(running))
            try:
                while True:  # continuous work: it uses the pool while it leads
                    await pool.execute("SELECT 1")
                    await asyncio.sleep(0.02)
            except asyncio.CancelledError:
                events.append(f"{holder} stopped")
                raise
            finally:
                running.discard(holder)

        return Continuous("follow", run)

    async with (
        runner(db, database_url, "a:1", follower("a:1")),
        runner(db, database_url, "b:2", follower("b:2")),
    ):
        await wait_until(lambda: len(events) >= 1)
        await asyncio.sleep(1.0)  # several heartbeats: the standby never starts while the leader holds the lock
        assert len(events) == 1 and not overlap
        first = events[0].split()[0]
        leader = await db.fetchval("SELECT holder FROM job_leaders WHERE job = 'follow'")
        assert leader == first

        await db.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_locks WHERE locktype = 'advisory' AND classid = $1 "
            "AND objid = $2 AND objsubid = 2 AND granted",
            *lock_key("follow"),
        )
        cut = time.monotonic()
        await wait_until(lambda: f"{first} stopped" in events, timeout=2)
        assert time.monotonic() - cut < 1.0, "the run is cancelled as soon as the lock's connection closes"
        second = "b:2" if first == "a:1" else "a:1"
        await wait_until(lambda: f"{second} started" in events or events.count(f"{first} started") == 2)
        await asyncio.sleep(0.5)
        assert len(running) == 1 and not overlap, "never two runs at once"
        assert await db.fetchval("SELECT holder FROM job_leaders WHERE job = 'follow'") in {first, second}
    assert not running, "leaving the block cancels the run"


async def test_a_run_that_returns_gives_leadership_up_and_runs_again(db: asyncpg.Pool, database_url: str) -> None:
    runs: list[float] = []

    async def run(pool: asyncpg.Pool, url: str) -> None:
        runs.append(time.monotonic())

    async with runner(db, database_url, "a:1", Continuous("brief", run)):
        await wait_until(lambda: len(runs) >= 3)
    assert len(runs) >= 3
