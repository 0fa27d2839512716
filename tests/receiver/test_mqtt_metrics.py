"""The receiver's MQTT metrics against a real broker: connected, messages awaiting their commit, reconnections."""

from __future__ import annotations

import asyncio
import json

import aiohttp
import asyncpg
import pytest
from prometheus_client import REGISTRY

from receiver.metrics import metrics_server
from receiver.service import RunningReceiver
from receiver.transports.mqtt import connect_client
from tests.conftest import free_port
from tests.receiver.test_mqtt import (
    EMBEDDED,
    MqttPanel,
    accept_signals,
    account,
    event,
    mqtt_receiver,
    panel,
    refuse_signals,
)

__all__ = ["account", "mqtt_receiver", "panel"]  # the fixtures

CONNECTED, WAITING = "alarmhub_receiver_mqtt_connected", "alarmhub_receiver_mqtt_waiting_messages"
RECONNECTS = "alarmhub_receiver_mqtt_reconnects_total"


def sample(name: str) -> float | None:
    return REGISTRY.get_sample_value(name)


async def scrape(url: str) -> dict[str, float]:
    async with aiohttp.ClientSession() as session, session.get(url) as response:
        text = await response.text()
    pairs = (line.rsplit(" ", 1) for line in text.splitlines() if line.startswith("alarmhub_receiver_mqtt_"))
    return {name: float(value) for name, value in pairs}


async def test_a_connected_receiver_exports_its_state_on_metrics(mqtt_receiver: RunningReceiver) -> None:
    async with metrics_server(("127.0.0.1", free_port())) as url:
        assert url is not None
        assert await scrape(url) == {CONNECTED: 1.0, WAITING: 0.0, RECONNECTS: 0.0}


async def test_no_mqtt_series_without_a_transport() -> None:
    assert (sample(CONNECTED), sample(WAITING), sample(RECONNECTS)) == (None, None, None)


async def test_messages_held_for_their_commit_are_counted_until_they_are_acknowledged(
    mqtt_receiver: RunningReceiver, panel: MqttPanel, account: str, db: asyncpg.Pool
) -> None:
    await refuse_signals(db)
    await panel.publish(account, "events", event(account, 50))
    await panel.publish(account, "events", event(account, 51))
    for _ in range(100):
        if sample(WAITING) == 2:
            break
        await asyncio.sleep(0.05)
    assert sample(WAITING) == 2 and sample(CONNECTED) == 1
    await accept_signals(db)
    answers = {json.loads((await panel.answer(timeout=15))[1])["seq"] for _ in range(2)}
    assert answers == {50, 51}
    assert sample(WAITING) == 0


@pytest.mark.skipif(EMBEDDED, reason="amqtt 0.12 does not end a session that a new connection takes over")
async def test_a_lost_connection_counts_one_reconnection(mqtt_receiver: RunningReceiver) -> None:
    transport = mqtt_receiver.mqtt
    assert transport is not None and sample(RECONNECTS) == 0
    async with connect_client(transport.settings, clean=True):  # takes the receiver's client id over
        pass
    for _ in range(100):
        if sample(RECONNECTS) == 1 and sample(CONNECTED) == 1:
            break
        await asyncio.sleep(0.1)
    assert (sample(RECONNECTS), sample(CONNECTED)) == (1, 1)
