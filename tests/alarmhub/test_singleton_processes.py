"""Two `alarmhub worker` processes and `alarmhub run` on one database: a singleton runs once per tick, under one
holder at a time, and another process takes it over within seconds of its holder's kill -9."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import asyncpg
import pytest

from shared.jobs import lock_key
from tests.conftest import REPO, free_port

pytestmark = pytest.mark.slow

JOB = "prune-login-records"
INTERVAL = 1.0  # worker.housekeeping_interval for the test: a tick a second
TAKEOVER_LIMIT = 10.0


def _start(command: str, database_url: str, log: Path) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ALARMHUB_")} | {
        "ALARMHUB_DATABASE_URL": database_url,
        "ALARMHUB_WORKER_HOUSEKEEPING_INTERVAL": str(INTERVAL),
        "ALARMHUB_DATABASE_POOL_MIN_SIZE": "1",
        "ALARMHUB_MQTT_URL": "",
        "ALARMHUB_PORTAL_PORT": str(free_port()),
        "ALARMHUB_RECEIVER_DC09_PORT": str(free_port()),
        "ALARMHUB_LOG_FORMAT": "json",
    }
    with log.open("wb") as output:
        return subprocess.Popen(
            [sys.executable, "-m", "alarmhub", command], cwd=REPO, env=env, stdout=output, stderr=output
        )


def _ticks(logs: list[Path]) -> list[tuple[str, str, int]]:
    """(process log, tick window, attempt) of every tick a process says it ran."""
    ran = []
    for log in logs:
        for line in log.read_text(errors="replace").splitlines():
            try:
                entry = json.loads(line)
            except ValueError:
                continue
            if isinstance(entry, dict) and entry.get("event") == "job ran" and entry.get("job") == JOB:
                ran.append((log.name, entry["tick_at"], entry["attempt"]))
    return ran


async def _lock_holders(connection: asyncpg.Connection) -> int:
    holders: int = await connection.fetchval(
        "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted AND classid = $1 AND objid = $2 "
        "AND objsubid = 2 AND database = (SELECT oid FROM pg_database WHERE datname = current_database())",
        *lock_key(JOB),
    )
    return holders


async def _leader(connection: asyncpg.Connection) -> asyncpg.Record | None:
    row: asyncpg.Record | None = await connection.fetchrow(
        "SELECT holder, since, heartbeat_at, now() - heartbeat_at < interval '3 seconds' AS fresh "
        "FROM job_leaders WHERE job = $1",
        JOB,
    )
    return row


async def _watch(connection: asyncpg.Connection, seconds: float, most_holders: list[int]) -> None:
    """Sample the lock's holders for `seconds`; never two at once."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        most_holders.append(await _lock_holders(connection))
        assert most_holders[-1] <= 1, "two processes hold the singleton's lock at once"
        await asyncio.sleep(0.05)


async def _scenario(database_url: str, processes: dict[int, subprocess.Popen[bytes]], logs: list[Path]) -> None:
    connection = await asyncpg.connect(database_url)
    holders: list[int] = []
    try:
        async with asyncio.timeout(90):  # three processes starting on a shared machine
            while (leader := await _leader(connection)) is None or not leader["fresh"]:
                for process in processes.values():
                    assert process.poll() is None, "\n".join(log.read_text() for log in logs)
                await asyncio.sleep(0.2)
        await _watch(connection, 5.0, holders)
        first = await _leader(connection)
        assert first is not None
        first_pid = int(first["holder"].rsplit(":", 1)[1])
        assert first_pid in processes, f"the holder {first['holder']} is one of the three processes"

        processes[first_pid].send_signal(signal.SIGKILL)
        killed_at = time.monotonic()
        processes[first_pid].wait()
        while True:
            leader = await _leader(connection)
            assert leader is not None
            if leader["holder"] != first["holder"]:
                break
            assert time.monotonic() - killed_at < TAKEOVER_LIMIT, "no process took over the singleton"
            await asyncio.sleep(0.1)
        took_over = time.monotonic() - killed_at
        second_pid = int(leader["holder"].rsplit(":", 1)[1])
        assert second_pid in processes and second_pid != first_pid and took_over < TAKEOVER_LIMIT

        await _watch(connection, 4.0, holders)
        runs = await connection.fetch("SELECT holder, status FROM job_runs WHERE job = $1 ORDER BY tick_at", JOB)
    finally:
        await connection.close()

    assert max(holders) == 1
    ticks = _ticks(logs)
    per_window = Counter(window for _, window, attempt in ticks if attempt == 1)
    assert per_window and max(per_window.values()) == 1, f"a tick ran twice: {per_window.most_common(3)}"
    assert len(per_window) >= 8, f"a tick a second for nine seconds, less the takeover: {len(per_window)} ticks"
    assert {holder for holder, _, _ in ticks} == {f"{first_pid}.log", f"{second_pid}.log"}
    assert {run["holder"] for run in runs} == {first["holder"], leader["holder"]}
    assert {run["status"] for run in runs} <= {"done", "abandoned", "running"}


def test_a_singleton_runs_once_per_tick_across_processes_and_survives_its_holders_kill(
    database_url: str, tmp_path: Path
) -> None:
    processes: dict[int, subprocess.Popen[bytes]] = {}
    logs = []
    try:
        for command in ("worker", "worker", "run"):
            log = tmp_path / f"{command}-{len(logs)}.log"
            process = _start(command, database_url, log)
            renamed = tmp_path / f"{process.pid}.log"  # named by pid: the holder in job_leaders is host:pid
            processes[process.pid] = process
            logs.append(renamed)
            log.rename(renamed)  # the process keeps writing to the renamed file
        asyncio.run(_scenario(database_url, processes, logs))
    finally:
        for process in processes.values():
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in processes.values():
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
    for pid, process in processes.items():
        assert process.returncode in (0, -signal.SIGKILL), (tmp_path / f"{pid}.log").read_text()
