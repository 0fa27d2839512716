"""The soak's `alarmhub` processes (killed, stopped, started again) and the receiver's setup and readiness."""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from bench.fuzz import Broker, FuzzPlan, log_findings, receiver_environment
from bench.ingest import REPO, free_port, wait_for_port
from bench.ingest_mqtt import wait_subscribed
from receiver.transports.mqtt import MqttSettings


class AlarmhubProcess:
    """`alarmhub <command>` in a process of its own, its output appended to a log; killed, stopped, started again."""

    def __init__(self, command: str, env: dict[str, str], log: Path) -> None:
        self.command = command
        self.env = env
        self.log = log
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> subprocess.Popen[bytes]:
        with self.log.open("ab") as output:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "alarmhub", self.command], cwd=REPO, env=self.env, stdout=output, stderr=output
            )
        return self.process

    @property
    def running(self) -> subprocess.Popen[bytes]:
        if self.process is None:
            raise RuntimeError(f"alarmhub {self.command} was not started")
        return self.process

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def kill(self) -> None:
        self.running.send_signal(signal.SIGKILL)
        self.running.wait(timeout=10)

    def stop(self) -> None:
        if not self.alive:
            return
        self.running.terminate()
        try:
            self.running.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.running.kill()
            self.running.wait()

    def errors(self) -> list[str]:
        return log_findings(self.log)[1] if self.log.exists() else []


def base_environment(database_url: str, directory: Path) -> dict[str, str]:
    return {
        **{name: value for name, value in os.environ.items() if not name.startswith("ALARMHUB_")},
        "ALARMHUB_DATABASE_URL": database_url,
        "ALARMHUB_LOG_LEVEL": "warning",
        "ALARMHUB_LOG_FORMAT": "json",
        "ALARMHUB_MQTT_URL": "",
        "ALARMHUB_PATHS_VAR_DIR": str(directory),
    }


@dataclass(frozen=True, slots=True)
class ReceiverSetup:
    database_url: str
    directory: Path
    broker: Broker | None = None
    port: int = field(default_factory=free_port)
    # The receiver's MQTT settings (its client id: its persistent session, kept across restarts); None: no broker.
    mqtt: MqttSettings | None = field(init=False)

    def __post_init__(self) -> None:
        client_id = f"alarmhub-soak-receiver-{secrets.token_hex(4)}"
        object.__setattr__(self, "mqtt", self.broker.settings(client_id) if self.broker is not None else None)

    def process(self) -> AlarmhubProcess:
        env = base_environment(self.database_url, self.directory)
        env |= receiver_environment(self.database_url, FuzzPlan(), self.port, free_port())
        if self.mqtt is not None and self.broker is not None:
            env |= {
                "ALARMHUB_MQTT_URL": self.broker.url,
                "ALARMHUB_MQTT_CLIENT_ID": self.mqtt.client_id,
                "ALARMHUB_MQTT_SHARED_GROUP": self.mqtt.shared_group or "",
                "ALARMHUB_MQTT_PROTOCOL": "5",
            }
        return AlarmhubProcess("receiver", env, self.directory / "receiver.log")


async def receiver_ready(receiver: AlarmhubProcess, setup: ReceiverSetup, limit: float = 30) -> None:
    """Until the receiver listens on its DC-09 port and (with a broker) answers on MQTT."""
    await wait_for_port(setup.port, receiver.running, limit=limit)
    if setup.mqtt is not None:
        await wait_subscribed(setup.mqtt, receiver.running, limit=limit)


def log_figure(name: str, process: AlarmhubProcess) -> str:
    errors = process.errors()
    first = f" (first: `{errors[0][:200]}`)" if errors else ""
    return f"{name} log: {len(errors)} error lines{first}"
