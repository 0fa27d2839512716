"""Background jobs: queue jobs (SKIP LOCKED, any number of workers) and singletons (one leader, by advisory lock).

A *queue* job drains work items: each worker claims one with ``FOR UPDATE SKIP LOCKED`` inside the transaction
the runner gives it, so any number of workers split the items and none is done twice.

A *singleton* runs once per tick of its interval across every process that runs it (`alarmhub run` and any
number of `alarmhub worker`). Leadership is a PostgreSQL session advisory lock held on a connection of its own —
never a pooled one, whose session outlives its borrower: a holder that dies, even by kill -9, loses the lock with
its connection and a standby (trying every `Leadership.retry` seconds) takes over. The holder checks its
connection every `Leadership.heartbeat` seconds and stops the job at once when it breaks. Ticks are the windows
``[k * interval, (k + 1) * interval)`` of wall-clock time; `job_runs` has one row per job and window, claimed
before the tick runs, so even two holders could not run one window twice. A tick cut short by a dying holder is
marked abandoned by the next leader and run again in the same window: a singleton's tick must be idempotent.
Windows in which nobody held the lock are skipped, not caught up: a tick does whatever is due by then.

A *continuous* job is led exactly like a singleton (the same lock, heartbeat and takeover) but has no ticks:
its leader runs `run(pool, database_url)` for as long as it leads, and the run is cancelled the moment
leadership is lost. It must keep its own progress in the database, written in the same transaction as its work
with a compare-and-set (shared.incidents.opener keeps a cursor in job_cursors), so a holder cut off mid-work and
the standby taking over never do a piece of work twice. A run that returns or raises gives leadership up; the
runner starts it again after the restart pause.

Admins (and tests) read `job_leaders` (holder ``host:pid``, since, heartbeat, last tick) and `job_runs`.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import os
import socket
import time
import zlib
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime

import asyncpg
from asyncpg.pool import PoolConnectionProxy

from shared import aio
from shared.db import Connection, Pool
from shared.job_status import JobKind, JobStatus, RunningJobs
from shared.logs import get_logger
from shared.outbox import RetryPolicy

log = get_logger(__name__)

# pg_try_advisory_lock(classid, objid): the two-integer key space, apart from the migrations' one bigint key.
LOCK_CLASS = 0x6A6F6273  # "jobs"
KEEP_TICKS = 500  # job_runs keeps each job's runs of its last KEEP_TICKS intervals
# A task that ends or dies is started again after 1 s, 2 s, 4 s ... at most a minute.
RESTART_DELAYS = RetryPolicy(base_delay=1.0, max_delay=60.0)
_DATABASE_ERRORS = (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, TimeoutError)


@dataclass(frozen=True, slots=True)
class Singleton:
    """A job one process at a time runs, once per `interval` seconds; `tick` must be idempotent."""

    name: str
    interval: float
    tick: Callable[[Pool], Awaitable[object]]


@dataclass(frozen=True, slots=True)
class Continuous:
    """A job one process at a time runs without pause: `run(pool, database_url)` while it leads (it is not expected
    to return), cancelled when leadership is lost. Its progress must be kept with a compare-and-set."""

    name: str
    run: Callable[[Pool, str], Awaitable[object]]


@dataclass(frozen=True, slots=True)
class QueueJob:
    """Work items every worker takes: `take_one` claims an item (FOR UPDATE SKIP LOCKED) in the transaction it is
    given, does the work and says whether there was any; with none, the worker waits `idle_interval` seconds."""

    name: str
    take_one: Callable[[PoolConnectionProxy[asyncpg.Record]], Awaitable[bool]]
    idle_interval: float = 5.0
    concurrency: int = 1


Job = Singleton | Continuous | QueueJob
Led = Singleton | Continuous  # the jobs with a leader


@dataclass(frozen=True, slots=True)
class Leadership:
    """Timings of a singleton's leadership, in seconds."""

    retry: float = 1.0  # a standby tries the lock this often
    heartbeat: float = 1.0  # the holder checks its connection this often ...
    heartbeat_timeout: float = 2.0  # ... and stops its job when the check takes longer
    # The server drops a silent holder's session (and its lock) after about idle + interval * count; that is
    # longer than the holder takes to notice it is cut off, so the holder stops first.
    keepalive_idle: int = 5
    keepalive_interval: int = 2
    keepalive_count: int = 3
    # Keepalives do not run while the server waits for its own data to be acknowledged (a heartbeat's answer in
    # flight when the holder's host vanished): this bounds that wait too, in milliseconds.
    user_timeout_ms: int = 11_000


class LeadershipLost(Exception):
    """The connection holding a singleton's lock broke (or the lock is gone): its job stopped."""


def holder_name() -> str:
    """How a process names itself in `job_leaders` and `job_runs`."""
    return f"{socket.gethostname()}:{os.getpid()}"


def lock_key(name: str) -> tuple[int, int]:
    """The advisory lock of the job `name` (kept below 2**31, so pg_locks shows the same numbers)."""
    return LOCK_CLASS, zlib.crc32(name.encode()) & 0x7FFFFFFF


def tick_window(now: float, interval: float) -> float:
    """The start of the tick window (epoch seconds) that `now` falls in."""
    return math.floor(now / interval) * interval


async def supervised(name: str, task: Callable[[], Awaitable[None]], restarts: RetryPolicy = RESTART_DELAYS) -> None:
    """Run `task` for ever; when it ends or dies, log it and start it again after a pause that grows.

    Without this a dead task went unnoticed while the process kept running (no mail went out until a restart).
    """
    crashes = 0
    while True:
        started = time.monotonic()
        try:
            await task()
            log.error("worker task ended", task=name)
        except LeadershipLost as lost:
            log.warning("leadership lost; the job stopped", task=name, reason=str(lost))
        except _DATABASE_ERRORS as error:
            log.warning("worker task lost the database", task=name, error=f"{type(error).__name__}: {error}")
        except Exception:
            log.exception("worker task died", task=name)
        crashes = 1 if time.monotonic() - started > restarts.max_delay else crashes + 1  # a long good run forgives
        delay = restarts.delay(crashes)
        log.info("worker task restarts", task=name, delay=delay)
        await aio.sleep(delay)


@asynccontextmanager
async def running_jobs(
    pool: Pool,
    database_url: str,
    jobs: Sequence[Job],
    *,
    holder: str | None = None,
    leadership: Leadership = Leadership(),
    restarts: RetryPolicy = RESTART_DELAYS,
) -> AsyncIterator[RunningJobs]:
    """Run `jobs` until the block exits: each queue job on `concurrency` tasks, each singleton and continuous job on
    one (leading or standing by), every task restarted with backoff when it dies. Yields what this process knows of
    them (shared/job_status.py)."""
    names = [job.name for job in jobs]
    if len(set(names)) != len(names) or len({lock_key(name) for name in names}) != len(names):
        raise ValueError(f"job names (and their lock keys) must be unique: {names}")
    holder = holder or holder_name()
    tasks: list[asyncio.Task[None]] = []
    status: dict[str, JobStatus] = {}
    for job in jobs:
        status[job.name] = JobStatus(_kind(job))
        if isinstance(job, Singleton | Continuous):
            single = _SingletonRunner(job, pool, database_url, holder, leadership, status[job.name])
            tasks.append(asyncio.create_task(supervised(job.name, single.serve, restarts), name=job.name))
        else:
            for index in range(job.concurrency):

                def drain(job: QueueJob = job) -> Awaitable[None]:
                    return _drain_queue(job, pool)

                tasks.append(asyncio.create_task(supervised(job.name, drain, restarts), name=f"{job.name}-{index}"))
    try:
        yield RunningJobs(status, tasks)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


def _kind(job: Job) -> JobKind:
    if isinstance(job, Singleton):
        return "singleton"
    return "continuous" if isinstance(job, Continuous) else "queue"


async def _drain_queue(job: QueueJob, pool: Pool) -> None:
    while True:
        async with pool.acquire() as connection, connection.transaction():
            found = await job.take_one(connection)
        if not found:
            await aio.sleep(job.idle_interval)


_HEARTBEAT = """
    WITH beat AS (UPDATE job_leaders SET heartbeat_at = now() WHERE job = $3 AND holder = $4)
    SELECT EXISTS (
        SELECT 1 FROM pg_locks
        WHERE locktype = 'advisory' AND pid = pg_backend_pid() AND granted
          AND classid = $1 AND objid = $2 AND objsubid = 2
    )
"""
_TAKE_LEADERSHIP = """
    INSERT INTO job_leaders (job, holder) VALUES ($1, $2)
    ON CONFLICT (job) DO UPDATE SET holder = EXCLUDED.holder, since = now(), heartbeat_at = now()
"""
_ABANDON_RUNNING = """
    UPDATE job_runs SET status = 'abandoned', finished_at = now(), error = 'its holder stopped mid-tick'
    WHERE job = $1 AND status = 'running'
"""
_CLAIM_TICK = """
    INSERT INTO job_runs AS run (job, tick_at, holder) VALUES ($1, $2, $3)
    ON CONFLICT (job, tick_at) DO UPDATE
        SET holder = EXCLUDED.holder, started_at = now(), finished_at = NULL, status = 'running', error = '',
            attempts = run.attempts + 1
        WHERE run.status = 'abandoned'
    RETURNING attempts
"""
_FINISH_TICK = """
    WITH finished AS (
        UPDATE job_runs SET status = $3, finished_at = now(), error = $4 WHERE job = $1 AND tick_at = $2
    )
    UPDATE job_leaders SET last_tick_at = $2 WHERE job = $1
"""
_FORGET_OLD_RUNS = "DELETE FROM job_runs WHERE job = $1 AND tick_at < $2"


@dataclass(slots=True)
class _SingletonRunner:
    """One process's part in a singleton or continuous job: stand by for the lock, then lead until the connection
    breaks."""

    job: Led
    pool: Pool
    database_url: str
    holder: str
    leadership: Leadership
    state: JobStatus  # what this process's /metrics reports of the job

    @property
    def key(self) -> tuple[int, int]:
        return lock_key(self.job.name)

    async def serve(self) -> None:
        """Wait for the lock, then lead; raises LeadershipLost (or a database error) when that ends."""
        timing = self.leadership
        connection: Connection = await asyncpg.connect(
            self.database_url,
            server_settings={
                "application_name": f"alarmhub job {self.job.name}"[:63],
                "tcp_keepalives_idle": str(timing.keepalive_idle),
                "tcp_keepalives_interval": str(timing.keepalive_interval),
                "tcp_keepalives_count": str(timing.keepalive_count),
                "tcp_user_timeout": str(timing.user_timeout_ms),
            },
        )
        try:
            # Polled, not a blocking pg_advisory_lock(): a statement waiting for hours would hide a dead connection.
            # Each try is bounded too: on a silently dead socket it would otherwise wait for TCP to give up (minutes).
            while not await self._try_lock(connection):
                await aio.sleep(timing.retry)
            await self._lead(connection)
        finally:
            connection.terminate()  # never a graceful close: the connection may be the thing that broke

    async def _try_lock(self, connection: Connection) -> bool:
        try:
            async with asyncio.timeout(self.leadership.heartbeat_timeout):
                taken: bool = await connection.fetchval("SELECT pg_try_advisory_lock($1, $2)", *self.key)
        except TimeoutError:
            raise LeadershipLost("the standby's connection stopped answering") from None
        return taken

    async def _lead(self, connection: Connection) -> None:
        name = self.job.name
        await connection.execute(_TAKE_LEADERSHIP, name, self.holder)
        abandoned = await connection.execute(_ABANDON_RUNNING, name)
        log.info("leadership taken", job=name, holder=self.holder, abandoned_ticks=int(abandoned.split()[-1]))
        self.state.leading = True
        closed = asyncio.Event()  # the socket closed: asyncpg says so at once, before any heartbeat
        connection.add_termination_listener(lambda _: closed.set())
        work = self._tick_forever() if isinstance(self.job, Singleton) else self._run_continuously(self.job)
        ticking = asyncio.create_task(work, name=f"{name}-work")
        watching = asyncio.create_task(closed.wait(), name=f"{name}-connection")
        try:
            while True:
                await asyncio.wait(
                    {ticking, watching}, timeout=self.leadership.heartbeat, return_when=asyncio.FIRST_COMPLETED
                )
                if ticking.done():
                    ticking.result()  # the tick loop never returns: this raises what ended it
                if closed.is_set():
                    raise LeadershipLost("the lock's connection closed")
                try:
                    async with asyncio.timeout(self.leadership.heartbeat_timeout):
                        held = await connection.fetchval(_HEARTBEAT, *self.key, name, self.holder)
                except _DATABASE_ERRORS as error:
                    raise LeadershipLost(f"the lock's connection failed: {type(error).__name__}: {error}") from error
                if not held:
                    raise LeadershipLost("the advisory lock is no longer held")
        finally:
            self.state.leading = False
            for task in (ticking, watching):
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task

    async def _run_continuously(self, job: Continuous) -> None:
        await job.run(self.pool, self.database_url)
        raise LeadershipLost("the continuous job returned; leadership given up")

    async def _tick_forever(self) -> None:
        assert isinstance(self.job, Singleton)
        interval = self.job.interval
        while True:
            window = tick_window(time.time(), interval)
            await self._tick(datetime.fromtimestamp(window, UTC))
            await aio.sleep(max(0.0, window + interval - time.time()))

    async def _tick(self, tick_at: datetime) -> None:
        assert isinstance(self.job, Singleton)
        name = self.job.name
        async with self.pool.acquire() as connection:
            attempt = await connection.fetchval(_CLAIM_TICK, name, tick_at, self.holder)
        if attempt is None:
            return  # this window's tick ran already (before a takeover)
        started = time.monotonic()
        status, error = "done", ""
        try:
            await self.job.tick(self.pool)
        except Exception as failure:  # the next window tries again; leadership stays
            status, error = "failed", f"{type(failure).__name__}: {failure}"[:500]
            log.exception("job tick failed", job=name, tick_at=tick_at.isoformat())
        else:
            log.info(
                "job ran",
                job=name,
                tick_at=tick_at.isoformat(),
                attempt=attempt,
                seconds=round(time.monotonic() - started, 3),
            )
        self.state.tick_ended(failed=status == "failed")
        async with self.pool.acquire() as connection:
            await connection.execute(_FINISH_TICK, name, tick_at, status, error)
            horizon = datetime.fromtimestamp(tick_at.timestamp() - KEEP_TICKS * self.job.interval, UTC)
            await connection.execute(_FORGET_OLD_RUNS, name, horizon)
