"""Faults: kill -9 of the receiver under load, PostgreSQL stopped and started mid-stream — nothing acked is lost."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from pathlib import Path

import asyncpg
import pytest

from bench.postgres_restart import start_again
from receiver.service import receiver_service
from receiver.simulator.client import Tally, run_panels
from receiver.simulator.enrol import enrol_simulated_panels
from receiver.simulator.run import virtual_panels
from shared.migrations import migrate
from tests.conftest import REPO, free_port
from tests.receiver.conftest import receiver_config, stored_frames

pytestmark = pytest.mark.slow


async def assert_every_ack_stored_once(database_url: str, tally: Tally) -> None:
    stored = await stored_frames(database_url)
    assert all(copies == 1 for copies in stored.values()), "a frame was stored twice"
    missing = [frame for frame in tally.acked_frames if frame not in stored]
    assert missing == [], f"{len(missing)} acknowledged frames are not in the table"


def start_receiver(database_url: str, port: int) -> subprocess.Popen[bytes]:
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("ALARMHUB_")},
        "ALARMHUB_DATABASE_URL": database_url,
        "ALARMHUB_RECEIVER_DC09_PORT": str(port),
        "ALARMHUB_LOG_LEVEL": "warning",
    }
    return subprocess.Popen([sys.executable, "-m", "alarmhub", "receiver"], cwd=REPO, env=env)


async def wait_for_port(port: int, limit: float = 30) -> None:
    for _ in range(int(limit / 0.1)):
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            await asyncio.sleep(0.1)
            continue
        writer.close()
        return
    raise AssertionError(f"nothing listens on {port}")


async def test_kill_9_under_load_then_restart_loses_nothing_acknowledged(database_url: str) -> None:
    panels = virtual_panels(10, encrypted=True)
    connection = await asyncpg.connect(database_url)
    await enrol_simulated_panels(connection, {p.account: p.key for p in panels})
    await connection.close()
    port = free_port()
    receiver = start_receiver(database_url, port)
    try:
        await wait_for_port(port)
        tally = Tally(keep_frames=True)
        load = asyncio.create_task(
            run_panels(
                panels,
                "127.0.0.1",
                port,
                transport="tcp",
                duration=6.0,
                answer_timeout=1.0,
                reconnect=True,
                tally=tally,
            )
        )
        await asyncio.sleep(2.0)
        acked_before_kill = tally.acked
        receiver.send_signal(signal.SIGKILL)
        receiver.wait(timeout=10)
        await asyncio.sleep(0.5)
        receiver = start_receiver(database_url, port)
        await load
    finally:
        receiver.terminate()
        receiver.wait(timeout=15)
    assert acked_before_kill > 0
    assert tally.reconnects >= len(panels), "every panel lost its connection and came back"
    assert tally.acked > acked_before_kill + 50, "the restarted receiver took the load again"
    await assert_every_ack_stored_once(database_url, tally)


async def test_postgresql_stopped_and_started_mid_stream(tmp_path: Path) -> None:
    import pgserver
    from pgserver._commands import pg_ctl

    server = pgserver.get_server(tmp_path / "pgdata", cleanup_mode="delete")  # type: ignore[attr-defined]
    url = server.get_uri()
    try:
        connection = await asyncpg.connect(url)
        await migrate(connection)
        panels = virtual_panels(10, encrypted=False)
        await enrol_simulated_panels(connection, {p.account: p.key for p in panels})
        await connection.close()
        async with receiver_service(receiver_config(), url) as running:
            host, port = running.tcp_address
            tally = Tally(keep_frames=True)
            load = asyncio.create_task(
                run_panels(
                    panels,
                    host,
                    port,
                    transport="tcp",
                    duration=12.0,
                    answer_timeout=1.0,
                    tally=tally,
                )
            )
            await asyncio.sleep(2.0)
            await asyncio.to_thread(pg_ctl, ["-w", "-m", "fast", "stop"], pgdata=server.pgdata, user=server.system_user)
            acked_at_stop = tally.acked
            await asyncio.sleep(2.0)
            acked_while_down = tally.acked - acked_at_stop
            await start_again(server)
            acked_at_restart = tally.acked
            await load
            assert running.writer.available, "the writer reconnected by itself"
        assert acked_at_stop > 0
        assert acked_while_down <= len(panels), "nothing is acknowledged while the database is down"
        assert tally.timeouts > 0, "while PostgreSQL was down, frames went unacknowledged"
        assert tally.acked > acked_at_restart + 20, "the receiver recovered without a restart"
        await assert_every_ack_stored_once(url, tally)
    finally:
        server.cleanup()
