"""A standalone receiver's /healthz (on its metrics server): ready while it can store, listens and, with MQTT
configured, is connected to the broker; 503 naming what is not."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import asyncpg
import pytest
from prometheus_client import REGISTRY

from receiver.dc09 import encode_frame
from receiver.health import receiver_report
from receiver.metrics import metrics_server
from receiver.service import RunningReceiver, receiver_service
from receiver.transports.mqtt import mqtt_settings
from tests.conftest import REPO, free_port
from tests.receiver.conftest import Panel, now, receiver_config

READY = {"database": "ok", "listeners": "ok"}
STOPPED = {"database": "unavailable", "listeners": "not ready"}


async def health(base: str) -> tuple[int, dict[str, Any]]:
    async with aiohttp.ClientSession() as session, session.get(f"{base}/healthz") as response:
        return response.status, await response.json()


async def eventually(base: str, expected: tuple[int, dict[str, str]], limit: float = 15) -> None:
    answer = None
    for _ in range(int(limit / 0.1)):
        try:
            answer = await health(base)
        except aiohttp.ClientConnectionError:  # not listening yet
            await asyncio.sleep(0.1)
            continue
        if answer == expected:
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"/healthz still answers {answer}, not {expected}")


def base_of(metrics_url: str | None) -> str:
    assert metrics_url is not None and metrics_url.endswith("/metrics")
    return metrics_url.removesuffix("/metrics")


async def test_ready_only_while_the_receiver_runs(database_url: str) -> None:
    receiver: RunningReceiver | None = None

    def report() -> dict[str, str]:
        return receiver_report(receiver, mqtt=False)

    async with metrics_server(("127.0.0.1", free_port()), report) as metrics_url:
        base = base_of(metrics_url)
        assert await health(base) == (503, STOPPED), "not started yet"
        async with receiver_service(receiver_config(), database_url) as receiver:
            assert await health(base) == (200, READY)
        assert await health(base) == (503, STOPPED), "stopped: not ready again"


async def test_the_database_lost_by_the_batch_writer_is_named_until_it_is_back(
    database_url: str, postgres_server_url: str
) -> None:
    name = urlsplit(database_url).path.lstrip("/")
    admin = await asyncpg.connect(postgres_server_url)
    try:
        async with receiver_service(receiver_config(), database_url) as receiver:

            def report() -> dict[str, str]:
                return receiver_report(receiver, mqtt=False)

            async with metrics_server(("127.0.0.1", free_port()), report) as metrics_url:
                base = base_of(metrics_url)
                assert await health(base) == (200, READY)
                panel = await Panel.connect(receiver.tcp_address)
                try:
                    # The database refuses new connections and ends the receiver's: the writer finds out with the
                    # next batch, and cannot reconnect.
                    await admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false')
                    await admin.execute(
                        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1", name
                    )
                    await panel.send(encode_frame("SIA-DCS", 1, "4321", "#4321|NRP", line="1", timestamp=now()))
                    await eventually(base, (503, {"database": "unavailable", "listeners": "ok"}))
                finally:
                    await admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')
                    await panel.close()
                await eventually(base, (200, READY))
    finally:
        await admin.close()


async def test_an_unreachable_broker_is_named_when_mqtt_is_configured(database_url: str) -> None:
    config = receiver_config(ALARMHUB_MQTT_URL=f"mqtt://127.0.0.1:{free_port()}")  # nothing listens there
    settings = mqtt_settings(config, config["mqtt.url"])
    async with receiver_service(config, database_url, settings) as receiver:

        def report() -> dict[str, str]:
            return receiver_report(receiver, mqtt=True)

        async with metrics_server(("127.0.0.1", free_port()), report) as metrics_url:
            assert await health(base_of(metrics_url)) == (503, READY | {"mqtt": "not ready"})
            assert REGISTRY.get_sample_value("alarmhub_receiver_mqtt_connected") == 0
    assert receiver_report(None, mqtt=True) == STOPPED | {"mqtt": "not ready"}


@pytest.mark.slow
def test_alarmhub_receiver_serves_healthz_on_its_metrics_listen(database_url: str) -> None:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("ALARMHUB_")} | {
        "ALARMHUB_DATABASE_URL": database_url,
        "ALARMHUB_RECEIVER_DC09_PORT": str(free_port()),
        "ALARMHUB_RECEIVER_METRICS_LISTEN": f"127.0.0.1:{port}",
        "ALARMHUB_MQTT_URL": "",
    }
    process = subprocess.Popen([sys.executable, "-m", "alarmhub", "receiver"], cwd=REPO, env=env)
    try:
        asyncio.run(eventually(f"http://127.0.0.1:{port}", (200, READY), limit=30))
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=20)
    assert process.returncode == 0
