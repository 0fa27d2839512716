"""The reach into aiomqtt that holds the PUBACK back until the commit: fails loudly if an upgrade moves it.

aiomqtt 2.x acknowledges a QoS 1 message as soon as it reads it. receiver/transports/mqtt.py takes over its paho
client to acknowledge by hand; if that silently stopped working, every message would count as delivered before
its signal was stored, and a crash would lose it.
"""

from __future__ import annotations

import asyncio
import secrets

import aiomqtt
import paho.mqtt.client as paho
import pytest

from receiver.transports.mqtt import (
    MqttSettings,
    MqttTransport,
    _Connection,
    _Delivery,
    ack_topic,
    connect_client,
    paho_client,
    take_over_delivery,
)
from tests.receiver.test_mqtt import EMBEDDED, mqtt_config, settings_of


def settings(mqtt_url: str) -> MqttSettings:
    return settings_of(mqtt_config(mqtt_url, "unused"))


async def test_the_paho_client_is_where_the_transport_expects_it(mqtt_url: str) -> None:
    client = connect_client(settings(mqtt_url))
    inner = paho_client(client)
    assert isinstance(inner, paho.Client)
    take_over_delivery(client, lambda message: None)
    assert inner._manual_ack is True  # what manual_ack_set(True) sets
    assert isinstance(inner._max_inflight_messages, int)


async def test_messages_reach_the_callback_unacknowledged_and_the_broker_redelivers_them(mqtt_url: str) -> None:
    base = settings(mqtt_url)
    client_id = f"alarmhub-internals-{secrets.token_hex(4)}"
    topic = f"alarmhub/internals/{secrets.token_hex(4)}"
    received: list[paho.MQTTMessage] = []
    arrived = asyncio.Event()

    def on_message(message: paho.MQTTMessage) -> None:
        received.append(message)
        arrived.set()

    client = connect_client(base, client_id=client_id)
    take_over_delivery(client, on_message)
    try:
        async with client:
            await client.subscribe(topic, qos=1)
            async with connect_client(base, client_id=f"{client_id}-pub", clean=True) as publisher:
                await publisher.publish(topic, b"hold me", qos=1)
            async with asyncio.timeout(10):
                await arrived.wait()
            assert len(client.messages) == 0, "messages go to our callback, not to aiomqtt's queue"
            assert received[0].payload == b"hold me" and received[0].qos == 1
            assert paho_client(client)._max_inflight_messages >= 1  # set from the broker's CONNACK
        if EMBEDDED:
            pytest.skip("amqtt keeps no messages for anonymous sessions, so it cannot show the missing PUBACK")
        # No PUBACK was sent: the broker redelivers the message on the next connection of the same session.
        arrived.clear()
        again = connect_client(base, client_id=client_id)
        take_over_delivery(again, on_message)
        async with again:
            async with asyncio.timeout(10):
                await arrived.wait()
            assert received[1].payload == b"hold me" and received[1].dup
            paho_client(again).ack(received[1].mid, 1)
    finally:
        async with connect_client(base, client_id=client_id, clean=True):
            pass


async def test_the_same_client_without_the_take_over_acknowledges_at_once(mqtt_url: str) -> None:
    """The behaviour the transport works around, so that this file notices if aiomqtt ever changes it."""
    base = settings(mqtt_url)
    if EMBEDDED:
        pytest.skip("amqtt keeps no messages for anonymous sessions")
    client_id = f"alarmhub-internals-{secrets.token_hex(4)}"
    topic = f"alarmhub/internals/{secrets.token_hex(4)}"
    try:
        async with connect_client(base, client_id=client_id) as client:
            await client.subscribe(topic, qos=1)
            async with connect_client(base, client_id=f"{client_id}-pub", clean=True) as publisher:
                await publisher.publish(topic, b"acked on read", qos=1)
            async with asyncio.timeout(10):
                await anext(aiter(client.messages))
            await asyncio.sleep(0.2)
        async with connect_client(base, client_id=client_id) as client:
            with pytest.raises(TimeoutError):
                async with asyncio.timeout(1.5):
                    await anext(aiter(client.messages))
    finally:
        async with connect_client(base, client_id=client_id, clean=True):
            pass


def test_aiomqtt_is_the_version_these_internals_were_read_from() -> None:
    from importlib.metadata import version

    assert version("aiomqtt").startswith("2."), "re-read aiomqtt's Client before raising the bound"
    assert version("paho-mqtt").startswith("2."), "re-read paho's manual ack before raising the bound"
    assert hasattr(aiomqtt.Client, "messages")


async def test_a_puback_waits_while_the_brokers_window_for_answers_is_full(mqtt_url: str) -> None:
    """Past the broker's Receive Maximum paho keeps an answer in memory; the message's PUBACK must wait for it,
    or a crash in between loses the answer while the broker, holding the PUBACK, never redelivers."""
    base = settings(mqtt_url)
    if EMBEDDED:
        pytest.skip("amqtt keeps no messages for anonymous sessions")
    account = "W" + secrets.token_hex(4).upper()
    client_id = f"alarmhub-window-{secrets.token_hex(4)}"
    topic = f"alarmhub/panels/{account}/dc09"
    received: list[paho.MQTTMessage] = []
    answers: list[bytes] = []
    connection = _Connection(MqttTransport(None, base))  # type: ignore[arg-type]  # flush stores nothing
    client = connect_client(base, client_id=client_id)
    connection.paho = inner = take_over_delivery(client, received.append, connection.flush)
    try:
        async with connect_client(base, client_id=f"{client_id}-panel", clean=True) as panel, client:
            await panel.subscribe(ack_topic(account), qos=1)
            await client.subscribe(topic, qos=1)
            for n in range(2):
                await panel.publish(topic, f"message {n}".encode(), qos=1)
            async with asyncio.timeout(10):
                while len(received) < 2:  # noqa: ASYNC110
                    await asyncio.sleep(0.02)
            inner._max_inflight_messages = 1  # a broker that takes one unacknowledged publish at a time
            deliveries = [_Delivery(message) for message in received]
            connection._queue.extend(deliveries)
            for n, delivery in enumerate(deliveries):
                connection._finish(delivery, [f"answer {n}".encode()])
            assert connection.waiting == 1, "the second PUBACK waits: its answer could not leave yet"
            async with asyncio.timeout(10):
                async for message in panel.messages:
                    answers.append(bytes(message.payload))
                    if len(answers) == 2:
                        break
            assert answers == [b"answer 0", b"answer 1"]
            async with asyncio.timeout(10):
                while connection.waiting:  # noqa: ASYNC110 - the broker's PUBACK for the first answer frees it
                    await asyncio.sleep(0.02)
        # Both messages were acknowledged: the session holds nothing to redeliver.
        again = connect_client(base, client_id=client_id)
        take_over_delivery(again, received.append)
        async with again:
            await asyncio.sleep(1)
        assert len(received) == 2, "nothing redelivered: both PUBACKs reached the broker"
    finally:
        connection.close()
        async with connect_client(base, client_id=client_id, clean=True):
            pass
