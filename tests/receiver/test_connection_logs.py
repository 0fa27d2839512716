"""Every line about a TCP or broker connection carries its connection id and peer, bound once when it opens."""

from __future__ import annotations

import asyncio
import json
import re
import secrets

from receiver.service import receiver_service
from tests.receiver.conftest import PLAIN_ACCOUNT, Panel, receiver_config
from tests.receiver.test_limits import closed_by_server
from tests.receiver.test_mqtt import forget_session, mqtt_config, settings_of
from tests.receiver.test_pipeline import cid
from tests.shared.test_logs import json_logs

CONNECTION_ID = re.compile(r"[0-9a-f]+-[0-9a-f]+")  # process and number, in hex


def local_address(panel: Panel) -> str:
    host, port = panel.writer.get_extra_info("sockname")[:2]
    return f"{host}:{port}"


async def test_the_lines_about_a_connection_carry_its_id_and_peer(database_url: str, enrolled: object) -> None:
    config = receiver_config(ALARMHUB_RECEIVER_MAX_CONNECTIONS="1", ALARMHUB_RECEIVER_IDLE_TIMEOUT="1")
    with json_logs("debug") as stream:
        async with receiver_service(config, database_url) as running:
            kept = await Panel.connect(running.tcp_address)
            refused = await Panel.connect(running.tcp_address)
            try:
                assert await closed_by_server(refused, within=2.0)
                assert (await kept.exchange(cid(PLAIN_ACCOUNT, 7, 1, 602, 0))).kind == "ack"
                assert await closed_by_server(kept, within=3.0)  # idle: cut by the receiver
            finally:
                for panel in (kept, refused):
                    await panel.close()
    logged = [json.loads(line) for line in stream.getvalue().splitlines() if line.startswith("{")]
    about = [line for line in logged if line["logger"] == "receiver.transports.tcp"]
    by_event = {line["event"]: line for line in about}
    refusal = by_event["connection refused: too many connections"]
    assert refusal["peer"] == local_address(refused) and refusal["level"] == "warning"
    following = [line for line in about if line["peer"] == local_address(kept)]
    assert [line["event"] for line in following] == ["connection opened", "connection closed", "connection ended"]
    assert by_event["connection closed"]["reason"] == "idle"
    (connection_id,) = {line["connection_id"] for line in following}
    assert CONNECTION_ID.fullmatch(connection_id) and connection_id != refusal["connection_id"]


async def test_the_lines_about_a_broker_connection_carry_its_id_and_the_broker(
    mqtt_url: str, database_url: str
) -> None:
    config = mqtt_config(mqtt_url, f"test-{secrets.token_hex(4)}")
    settings = settings_of(config)
    with json_logs() as stream:
        async with receiver_service(config, database_url, settings) as running:
            assert running.mqtt is not None
            async with asyncio.timeout(10):
                await running.mqtt.connected.wait()
    await forget_session(settings)
    logged = [json.loads(line) for line in stream.getvalue().splitlines() if line.startswith("{")]
    (connected,) = [line for line in logged if line["event"] == "MQTT connected"]
    assert CONNECTION_ID.fullmatch(connected["connection_id"]) and connected["peer"] == settings.address
