"""/healthz under `alarmhub run` is ready only while the receiver listens; a standalone portal checks its database."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import pytest

from alarmhub.services import portal_service
from receiver.service import RunningReceiver, receiver_service
from tests.conftest import REPO, free_port
from tests.portal.conftest import portal_config


async def health(url: str) -> tuple[int, dict[str, Any]]:
    async with aiohttp.ClientSession() as session, session.get(f"{url}healthz") as response:
        return response.status, await response.json()


def accepts(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2):
            return True
    except OSError:
        return False


async def test_healthz_is_ready_only_while_the_receiver_listens(database_url: str, tmp_path: Path) -> None:
    dc09_port = free_port()
    config = portal_config(tmp_path, portal__port=str(free_port()), receiver__dc09_port=str(dc09_port))
    receiver: RunningReceiver | None = None

    def listening() -> bool:
        return receiver is not None and receiver.listening.is_set()

    async with portal_service(config, database_url, {"receiver": listening}) as url:
        assert await health(url) == (503, {"database": "ok", "receiver": "not ready"})
        async with receiver_service(config, database_url) as receiver:
            assert await health(url) == (200, {"database": "ok", "receiver": "ok"})
            assert accepts(dc09_port)
        assert await health(url) == (503, {"database": "ok", "receiver": "not ready"}), "stopped: not ready again"


async def test_a_standalone_portal_is_ready_when_its_database_answers(database_url: str, tmp_path: Path) -> None:
    config = portal_config(tmp_path, portal__port=str(free_port()))
    async with portal_service(config, database_url) as url:
        assert await health(url) == (200, {"database": "ok"})


@pytest.mark.slow
def test_alarmhub_run_answers_200_only_once_dc09_accepts_connections(database_url: str, tmp_path: Path) -> None:
    portal_port, dc09_port = free_port(), free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("ALARMHUB_")} | {
        "ALARMHUB_DATABASE_URL": database_url,
        "ALARMHUB_PATHS_VAR_DIR": str(tmp_path / "var"),
        "ALARMHUB_PORTAL_PORT": str(portal_port),
        "ALARMHUB_RECEIVER_DC09_PORT": str(dc09_port),
        "ALARMHUB_MQTT_URL": "",
        "ALARMHUB_LOG_FORMAT": "json",
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "alarmhub", "run"],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    url = f"http://127.0.0.1:{portal_port}/"
    answers = []
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            assert process.poll() is None, process.communicate()[0]
            try:
                status, body = asyncio.run(health(url))
            except aiohttp.ClientError:
                time.sleep(0.01)
                continue
            answers.append(status)
            if status == 200:
                assert accepts(dc09_port), "/healthz said ready while the DC-09 port refused connections"
                assert body == {"database": "ok", "receiver": "ok"}
                break
        assert answers and answers[-1] == 200, f"never ready: {answers}"
    finally:
        process.send_signal(signal.SIGINT)
        output, _ = process.communicate(timeout=20)
    assert process.returncode == 0, output
    assert "Demo logins" not in output and "demo data: none" in output
    customers = asyncio.run(_count_customers(database_url))
    assert customers == 0, "a configured database gets no demo data unasked"


async def _count_customers(database_url: str) -> int:
    connection = await asyncpg.connect(database_url)
    try:
        count: int = await connection.fetchval("SELECT count(*) FROM customers")
        return count
    finally:
        await connection.close()
