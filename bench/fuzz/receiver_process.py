"""The receiver under test: `alarmhub receiver` in a process of its own, configured for the run."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

from bench.fuzz.plan import Broker, FuzzPlan
from bench.ingest import REPO, free_port, wait_for_port
from bench.ingest_mqtt import wait_subscribed
from receiver.transports.mqtt import connect_client


@dataclass(frozen=True, slots=True)
class ReceiverProcess:
    process: subprocess.Popen[bytes]
    port: int
    metrics_url: str
    log: Path


def receiver_environment(database_url: str, plan: FuzzPlan, port: int, metrics_port: int) -> dict[str, str]:
    return {
        **{name: value for name, value in os.environ.items() if not name.startswith("ALARMHUB_")},
        "ALARMHUB_DATABASE_URL": database_url,
        "ALARMHUB_RECEIVER_DC09_PORT": str(port),
        "ALARMHUB_RECEIVER_METRICS_LISTEN": f"127.0.0.1:{metrics_port}",
        "ALARMHUB_RECEIVER_FRAME_TIMEOUT": str(plan.frame_timeout),
        "ALARMHUB_RECEIVER_MAX_FRAME_LENGTH": str(plan.max_frame_length),
        # Every rejection of the run stays in the table, so that it can be counted against the metric.
        "ALARMHUB_RECEIVER_REJECTED_FRAMES_KEPT": "100000000",
        "ALARMHUB_RECEIVER_PROCESSES": "1",
        "ALARMHUB_LOG_LEVEL": "warning",
        "ALARMHUB_MQTT_URL": "",
    }


@asynccontextmanager
async def running_receiver(
    database_url: str, plan: FuzzPlan, broker: Broker | None, log_directory: Path
) -> AsyncIterator[ReceiverProcess]:
    """`alarmhub receiver` in a process of its own, listening (and subscribed), stopped afterwards."""
    port, metrics_port = free_port(), free_port()
    env = receiver_environment(database_url, plan, port, metrics_port)
    settings = broker.settings(f"alarmhub-fuzz-receiver-{secrets.token_hex(4)}") if broker is not None else None
    if settings is not None and broker is not None:
        env |= {
            "ALARMHUB_MQTT_URL": broker.url,
            "ALARMHUB_MQTT_CLIENT_ID": settings.client_id,
            "ALARMHUB_MQTT_SHARED_GROUP": settings.shared_group or "",
            "ALARMHUB_MQTT_PROTOCOL": "5" if broker.mqtt5 else "3.1.1",
        }
    log = log_directory / "receiver.log"
    with log.open("wb") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "alarmhub", "receiver"], cwd=REPO, env=env, stdout=output, stderr=output
        )
    try:
        await wait_for_port(port, process)
        if settings is not None:
            await wait_subscribed(settings, process)
        yield ReceiverProcess(process, port, f"http://127.0.0.1:{metrics_port}/metrics", log)
    finally:
        process.terminate()
        process.wait(timeout=30)
        if settings is not None:
            async with connect_client(settings, clean=True):  # drop the receiver's persistent session
                pass
