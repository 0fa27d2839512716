"""The job runner on a real PostgreSQL: singletons run once per tick under one leader, queues split their items."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack, asynccontextmanager

import asyncpg

from shared.jobs import Leadership, QueueJob, Singleton, lock_key, running_jobs, tick_window
from shared.outbox import RetryPolicy

FAST = Leadership(retry=0.1, heartbeat=0.2, heartbeat_timeout=1.0)
QUICK_RESTARTS = RetryPolicy(base_delay=0.05, max_delay=0.2)
FOREVER = 1_000_000.0  # an interval whose window does not change during a test


@asynccontextmanager
async def runner(db: asyncpg.Pool, url: str, holder: str, *jobs: Singleton | QueueJob) -> AsyncIterator[None]:
    async with running_jobs(db, url, jobs, holder=holder, leadership=FAST, restarts=QUICK_RESTARTS):
        yield


async def lock_holders(db: asyncpg.Pool, name: str) -> int:
    classid, objid = lock_key(name)
    count: int = await db.fetchval(
        "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted AND classid = $1 AND objid = $2 "
        "AND objsubid = 2 AND database = (SELECT oid FROM pg_database WHERE datname = current_database())",
        classid,
        objid,
    )
    return count


async def wait_for(condition: Callable[[], Awaitable[bool]], timeout: float = 10.0) -> None:
    async with asyncio.timeout(timeout):
        while not await condition():  # noqa: ASYNC110 - polling the database or the job's record
            await asyncio.sleep(0.05)


async def test_a_singleton_runs_once_per_tick_under_one_holder(db: asyncpg.Pool, database_url: str) -> None:
    interval = 0.5
    ran: list[tuple[str, float]] = []

    def ticker(holder: str) -> Singleton:
        async def tick(pool: asyncpg.Pool) -> None:
            ran.append((holder, tick_window(time.time(), interval)))

        return Singleton("count", interval, tick)

    holders_seen = set()
    async with AsyncExitStack() as stack:
        for holder in ("host:1", "host:2", "host:3"):
            await stack.enter_async_context(runner(db, database_url, holder, ticker(holder)))
        deadline = time.monotonic() + 4
        while time.monotonic() < deadline:
            holders_seen.add(await lock_holders(db, "count"))
            await asyncio.sleep(0.05)
    assert holders_seen <= {0, 1} and 1 in holders_seen, "never two holders of the lock at once"
    per_window = Counter(window for _, window in ran)
    assert per_window and max(per_window.values()) == 1, per_window
    assert len(per_window) >= 6, "a tick every half second for four seconds"
    assert len({holder for holder, _ in ran}) == 1, "leadership stays with one holder while it lives"
    leader = await db.fetchrow("SELECT holder, last_tick_at FROM job_leaders WHERE job = 'count'")
    assert leader["holder"] == ran[0][0] and leader["last_tick_at"] is not None
    runs = await db.fetch("SELECT status, holder FROM job_runs WHERE job = 'count'")
    assert len(runs) == len(ran) and {r["status"] for r in runs} <= {"done", "running"}


async def test_a_broken_connection_stops_the_job_at_once_and_a_standby_reruns_the_tick(
    db: asyncpg.Pool, database_url: str
) -> None:
    events: list[str] = []
    first_started = asyncio.Event()

    def worker(holder: str) -> Singleton:
        async def tick(pool: asyncpg.Pool) -> None:
            if events:  # the first tick hangs until its leadership ends
                events.append(f"{holder} ran")
                return
            events.append(f"{holder} started")
            first_started.set()
            try:
                await asyncio.sleep(60)
            except asyncio.CancelledError:
                events.append(f"{holder} stopped")
                raise

        return Singleton("long", FOREVER, tick)

    async with runner(db, database_url, "a:1", worker("a:1")), runner(db, database_url, "b:2", worker("b:2")):
        await asyncio.wait_for(first_started.wait(), 10)
        first = events[0].split()[0]
        # The leader's lock connection dies (as when its process is killed or its network cut).
        await db.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_locks WHERE locktype = 'advisory' AND classid = $1 "
            "AND objid = $2 AND objsubid = 2 AND granted",
            *lock_key("long"),
        )
        cut = time.monotonic()

        async def stopped() -> bool:
            return f"{first} stopped" in events

        await wait_for(stopped, timeout=2)
        assert time.monotonic() - cut < 1.0, "the holder stops its job as soon as the connection closes"

        async def rerun() -> bool:
            return any(event.endswith(" ran") for event in events)

        await wait_for(rerun, timeout=5)
    run = await db.fetchrow("SELECT status, attempts, holder FROM job_runs WHERE job = 'long'")
    assert run["status"] == "done" and run["attempts"] == 2, "the abandoned tick runs again in its window"
    assert (await db.fetchval("SELECT holder FROM job_leaders WHERE job = 'long'")) == run["holder"]
    assert len([event for event in events if event.endswith(" ran")]) == 1


async def test_a_failing_tick_is_recorded_and_the_next_one_runs(db: asyncpg.Pool, database_url: str) -> None:
    calls: list[float] = []

    async def tick(pool: asyncpg.Pool) -> None:
        calls.append(time.time())
        if len(calls) == 1:
            raise RuntimeError("the billing cycle tripped")

    async with runner(db, database_url, "a:1", Singleton("flaky", 0.3, tick)):

        async def two_runs() -> bool:
            return bool(
                await db.fetchval("SELECT count(*) >= 2 FROM job_runs WHERE job = 'flaky' AND finished_at IS NOT NULL")
            )

        await wait_for(two_runs)
    runs = await db.fetch("SELECT status, error FROM job_runs WHERE job = 'flaky' ORDER BY tick_at")
    assert runs[0]["status"] == "failed" and runs[0]["error"] == "RuntimeError: the billing cycle tripped"
    assert runs[1]["status"] == "done"


async def test_queue_workers_split_the_items_and_do_each_once(db: asyncpg.Pool, database_url: str) -> None:
    await db.execute("CREATE TABLE work_items (id int PRIMARY KEY, done_by text)")
    await db.execute("INSERT INTO work_items (id) SELECT generate_series(1, 60)")
    done: list[tuple[str, int]] = []

    def queue(holder: str) -> QueueJob:
        async def take_one(connection: asyncpg.Connection) -> bool:
            item = await connection.fetchval(
                "SELECT id FROM work_items WHERE done_by IS NULL ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED"
            )
            if item is None:
                return False
            await asyncio.sleep(0.01)  # the work: the other workers take other items meanwhile
            await connection.execute("UPDATE work_items SET done_by = $2 WHERE id = $1", item, holder)
            done.append((holder, item))
            return True

        return QueueJob("items", take_one, idle_interval=0.05, concurrency=2)

    async with runner(db, database_url, "a:1", queue("a:1")), runner(db, database_url, "b:2", queue("b:2")):

        async def drained() -> bool:
            return not await db.fetchval("SELECT count(*) FROM work_items WHERE done_by IS NULL")

        await wait_for(drained)
    assert sorted(item for _, item in done) == list(range(1, 61)), "each item done exactly once"
    assert {holder for holder, _ in done} == {"a:1", "b:2"}, "both workers took part"


def test_lock_keys_are_stable_and_windows_align() -> None:
    assert lock_key("prune-login-records") == lock_key("prune-login-records")
    assert lock_key("a") != lock_key("b") and all(0 <= part < 2**31 for part in lock_key("a"))
    assert tick_window(3601.5, 3600) == 3600 and tick_window(7199.9, 3600) == 3600
