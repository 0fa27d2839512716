"""MQTT ingestion end to end against a real broker and PostgreSQL: stored, then answered on the ack topic.

Runs against the broker named by ALARMHUB_TEST_MQTT_URL (Mosquitto in CI) or an embedded amqtt. The broker may
be shared with other test runs: every test uses its own random panel accounts, client ids and shared-subscription
group, and removes the persistent sessions it created.
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import aiomqtt
import asyncpg
import pytest
import pytest_asyncio

from receiver.dc09 import Rejection, cid_data, encode_frame, parse_answer
from receiver.service import RunningReceiver, receiver_service
from receiver.simulator.client import answer_kind
from receiver.transports.mqtt import MqttSettings, ack_topic, connect_client, mqtt_settings
from shared.config import Config
from shared.enrolment import create_customer
from tests.receiver.conftest import receiver_config

EMBEDDED = not os.environ.get("ALARMHUB_TEST_MQTT_URL")


def random_account() -> str:
    return "E" + secrets.token_hex(4).upper()


def mqtt_config(mqtt_url: str, group: str, **overrides: str) -> Config:
    """A receiver's configuration for the test broker: amqtt speaks MQTT 3.1.1 and has no shared subscriptions."""
    environ = {
        "ALARMHUB_MQTT_URL": mqtt_url,
        "ALARMHUB_MQTT_CLIENT_ID": f"alarmhub-test-{secrets.token_hex(4)}",
        "ALARMHUB_MQTT_SHARED_GROUP": "" if EMBEDDED else group,
        "ALARMHUB_MQTT_PROTOCOL": "3.1.1" if EMBEDDED else "5",
        **overrides,
    }
    return receiver_config(**environ)


def settings_of(config: Config) -> MqttSettings:
    settings = mqtt_settings(config, config["mqtt.url"])
    assert settings is not None
    return settings


async def forget_session(settings: MqttSettings) -> None:
    """Connect once with a clean session so the broker drops what it kept for this client id."""
    async with connect_client(settings, clean=True):
        pass


class MqttPanel:
    """A panel (or gateway) on the broker: publishes with QoS 1, reads its answers from its ack topic."""

    def __init__(self, client: aiomqtt.Client, accounts: list[str]) -> None:
        self.client = client
        self.accounts = accounts
        self.answers: asyncio.Queue[tuple[str, bytes]] = asyncio.Queue()
        self._reader: asyncio.Task[None] | None = None

    @classmethod
    async def connect(cls, settings: MqttSettings, accounts: list[str]) -> MqttPanel:
        client = connect_client(settings, client_id=f"panel-{secrets.token_hex(6)}", clean=True)
        await client.__aenter__()
        for account in accounts:
            await client.subscribe(ack_topic(account), qos=1)
        panel = cls(client, accounts)
        panel._reader = asyncio.create_task(panel._read())
        return panel

    async def _read(self) -> None:
        async for message in self.client.messages:
            self.answers.put_nowait((str(message.topic), bytes(message.payload)))  # type: ignore[arg-type]

    async def publish(self, account: str, kind: str, payload: bytes) -> None:
        await self.client.publish(f"alarmhub/panels/{account}/{kind}", payload, qos=1)

    async def answer(self, timeout: float = 10.0) -> tuple[str, bytes]:
        async with asyncio.timeout(timeout):
            return await self.answers.get()

    async def close(self) -> None:
        if self._reader is not None:
            self._reader.cancel()
        await self.client.__aexit__(None, None, None)


@pytest_asyncio.fixture
async def account(db: asyncpg.Pool) -> str:
    """An enrolled plain panel with a random account, so that tests sharing a broker never meet."""
    number = random_account()
    async with db.acquire() as connection:
        await create_customer(
            connection, name="MQTT Panel", email=f"{number.lower()}@example.com", password=None, account=number
        )
    return number


@pytest_asyncio.fixture
async def mqtt_receiver(mqtt_url: str, database_url: str, account: str) -> AsyncIterator[RunningReceiver]:
    config = mqtt_config(mqtt_url, f"test-{secrets.token_hex(4)}")
    settings = settings_of(config)
    async with receiver_service(config, database_url, settings) as running:
        assert running.mqtt is not None
        async with asyncio.timeout(10):
            await running.mqtt.connected.wait()
        yield running
    await forget_session(settings)


@pytest_asyncio.fixture
async def panel(mqtt_receiver: RunningReceiver, account: str) -> AsyncIterator[MqttPanel]:
    assert mqtt_receiver.mqtt is not None
    client = await MqttPanel.connect(mqtt_receiver.mqtt.settings, [account])
    yield client
    await client.close()


def now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def cid_frame(account: str, seq: int, code: int = 130, zone: int = 15, qualifier: int = 1) -> bytes:
    data = cid_data(account, qualifier, code, 1, zone)
    return encode_frame("ADM-CID", seq, account, data, receiver="12", line="1", timestamp=now())


def event(account: str, seq: int, **fields: object) -> bytes:
    document = {
        "account": account,
        "format": "ADM-CID",
        "code": "E130",
        "zone": "15",
        "partition": "1",
        "seq": seq,
        "time": "2026-11-21T10:00:00Z",
    }
    document.update(fields)
    return json.dumps(document).encode()


async def rejected(db: asyncpg.Pool, account: str, expected: int) -> list[asyncpg.Record]:
    """The rejected_frames rows of `account` (written once a second), once there are `expected` of them."""
    rows: list[asyncpg.Record] = []
    for _ in range(50):
        rows = await db.fetch("SELECT * FROM rejected_frames WHERE account = $1 ORDER BY id", account)
        if len(rows) >= expected:
            break
        await asyncio.sleep(0.1)
    return rows


async def test_a_dc09_frame_is_stored_then_answered_on_the_ack_topic(
    panel: MqttPanel, account: str, db: asyncpg.Pool
) -> None:
    frame = cid_frame(account, 7)
    await panel.publish(account, "dc09", frame)
    topic, raw = await panel.answer()
    answer = parse_answer(raw, None)
    assert not isinstance(answer, Exception)
    assert topic == f"alarmhub/panels/{account}/ack"
    assert (getattr(answer, "kind", None), getattr(answer, "sequence", None)) == ("ack", "0007")
    [row] = await db.fetch("SELECT * FROM signals WHERE account = $1", account)
    assert row["transport"] == "mqtt" and row["remote_addr"] == f"alarmhub/panels/{account}/dc09"
    assert (row["code"], row["qualifier"], row["zone"], row["partition"], row["category"]) == (
        "130",
        "event",
        "015",
        "01",
        "alarm",
    )
    assert row["raw_frame"] == frame and row["receiver"] == "12" and row["panel_id"] is not None


async def test_a_json_event_is_stored_then_answered_on_the_ack_topic(
    panel: MqttPanel, account: str, db: asyncpg.Pool
) -> None:
    payload = event(account, 17)
    await panel.publish(account, "events", payload)
    topic, raw = await panel.answer()
    assert topic == f"alarmhub/panels/{account}/ack"
    assert json.loads(raw) == {"seq": 17, "status": "ack"}
    [row] = await db.fetch("SELECT * FROM signals WHERE account = $1", account)
    assert (row["format"], row["code"], row["qualifier"], row["zone"], row["partition"]) == (
        "ADM-CID",
        "130",
        "event",
        "015",
        "01",
    )
    assert row["category"] == "alarm" and row["alarm_type"] == "burglary" and row["panel_id"] is not None
    assert row["sequence"] == "0017" and row["receiver"] == "" and row["line"] == ""
    assert row["panel_time"] == datetime(2026, 11, 21, 10, tzinfo=UTC)
    assert row["transport"] == "mqtt" and row["raw_frame"] == payload


async def test_a_redelivered_event_is_answered_again_and_stored_once(
    panel: MqttPanel, account: str, db: asyncpg.Pool
) -> None:
    restore = event(account, 18, code="R301", zone="0")
    for _ in range(2):
        await panel.publish(account, "events", restore)
        _, raw = await panel.answer()
        assert json.loads(raw) == {"seq": 18, "status": "ack"}
    sia = event(account, 19, format="SIA-DCS", code="BA", zone="3")
    await panel.publish(account, "events", sia)
    # Answers are QoS 1, at least once: a panel must take a repeated answer in its stride, and so does this test.
    answers = [json.loads((await panel.answer())[1])]
    while answers[-1]["seq"] == 18:
        answers.append(json.loads((await panel.answer())[1]))
    assert answers[-1] == {"seq": 19, "status": "ack"} and len(answers) <= 2
    rows = await db.fetch("SELECT * FROM signals WHERE account = $1 ORDER BY id", account)
    assert [(r["code"], r["qualifier"], r["category"]) for r in rows] == [
        ("301", "restore", "power"),
        ("BA", "event", "alarm"),
    ]


async def test_bad_payloads_are_rejected_recorded_and_answered_and_the_receiver_keeps_going(
    panel: MqttPanel, account: str, db: asyncpg.Pool
) -> None:
    other = random_account()
    bad = [
        ("events", b"this is not JSON", None, "malformed"),
        ("events", event(other, 21), 21, "malformed"),  # the document names another account than the topic
        ("events", event(account, 22, code="E999"), 22, "bad_data"),
        ("events", event(account, 23, format="XYZ"), 23, "unsupported"),
        ("events", b"{" + b" " * (1024 * 1024) + b"}", None, "too_long"),
    ]
    for kind, payload, seq, _ in bad:
        await panel.publish(account, kind, payload)
        _, raw = await panel.answer()
        answer = json.loads(raw)
        assert (answer["seq"], answer["status"]) == (seq, "nak") and answer["reason"]
    await panel.publish(account, "dc09", cid_frame(other, 24))  # a frame for another account
    assert answer_kind((await panel.answer())[1]) == "nak"
    await panel.publish(account, "dc09", b"\n" + b"0" * (1024 * 1024))  # 1 MB
    assert answer_kind((await panel.answer())[1]) == "nak"
    await panel.publish(account, "dc09", cid_frame(account, 25))  # still serving
    assert answer_kind((await panel.answer())[1]) == "ack"
    await panel.publish(account, "events", event(account, 26))
    assert json.loads((await panel.answer())[1]) == {"seq": 26, "status": "ack"}
    recorded = await rejected(db, account, 6)
    assert sorted(r["reason"] for r in recorded) == sorted(
        ["malformed", "malformed", "bad_data", "unsupported", "too_long", "too_long"]
    )
    assert all(r["transport"] == "mqtt" and r["detail"] for r in recorded)
    assert any("does not match" in r["detail"] for r in recorded)
    assert [r["reason"] for r in await rejected(db, other, 1)] == ["malformed"]  # the frame: its header's account
    assert await db.fetchval("SELECT count(*) FROM signals WHERE account = $1", account) == 2
    assert await db.fetchval("SELECT count(*) FROM signals WHERE account = $1", other) == 0


def kind_of(raw: bytes) -> str:
    """An answer's kind, whatever its CRC (answers mirror a binary CRC, which answer_kind does not read)."""
    answer = parse_answer(raw, None)
    assert not isinstance(answer, Rejection), answer
    return answer.kind


def frames_naming_only_in_the_data_block_or_without_l(account: str, seq: int) -> list[bytes]:
    """Frames for `account` whose header account the old pre-check could not read: no L field (hex or binary CRC),
    no #account in the header (the data block names it, deviation no_header_account), and one whose x-data spells a
    header for another account that a search through the whole frame would have taken for the real one."""
    data = cid_data(account, 1, 130, 1, 15)
    return [
        encode_frame("ADM-CID", seq, account, data, line=None, timestamp=now()),
        encode_frame("ADM-CID", seq + 1, account, data, receiver="12", line=None, timestamp=now(), crc_binary=True),
        encode_frame("ADM-CID", seq + 2, None, data, line="1", timestamp=now()),
        encode_frame("ADM-CID", seq + 3, None, data, line=None, timestamp=now()),
        encode_frame("ADM-CID", seq + 4, None, data, line="1", extended=('"ADM-CID"0001L#ABC1[',), timestamp=now()),
    ]


async def test_frames_for_another_account_are_refused_whatever_their_header_shape(
    panel: MqttPanel, account: str, db: asyncpg.Pool
) -> None:
    other = random_account()
    frames = frames_naming_only_in_the_data_block_or_without_l(other, 40)
    for frame in frames:  # on this account's topic: refused, nothing stored under the other account
        await panel.publish(account, "dc09", frame)
        topic, answer = await panel.answer()
        assert (topic, kind_of(answer)) == (ack_topic(account), "nak"), frame
    recorded = await rejected(db, other, len(frames))
    assert [r["reason"] for r in recorded] == ["malformed"] * len(frames)
    assert all(r["transport"] == "mqtt" and "does not match" in r["detail"] for r in recorded)
    assert await db.fetchval("SELECT count(*) FROM signals WHERE account = $1", other) == 0
    await panel.client.subscribe(ack_topic(other), qos=1)
    for frame in frames:  # the same frames on their own account's topic: acknowledged and stored
        await panel.publish(other, "dc09", frame)
        topic, answer = await panel.answer()
        assert (topic, kind_of(answer)) == (ack_topic(other), "ack"), frame
    stored = await db.fetch("SELECT sequence FROM signals WHERE account = $1 ORDER BY sequence", other)
    assert [r["sequence"] for r in stored] == [f"{40 + i:04d}" for i in range(len(frames))]
    for frame in frames_naming_only_in_the_data_block_or_without_l(account, 50):  # and this account's own
        await panel.publish(account, "dc09", frame)
        assert kind_of((await panel.answer())[1]) == "ack", frame
    assert await db.fetchval("SELECT count(*) FROM signals WHERE account = $1", account) == len(frames)
    assert await db.fetchval("SELECT count(*) FROM signals WHERE account = $1", other) == len(frames)


async def refuse_signals(db: asyncpg.Pool) -> None:
    """The database refuses every signal (a trigger raising), as a full disk would, until accept_signals()."""
    await db.execute("""
        CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN RAISE EXCEPTION 'disk full (simulated)'; END $$;
        CREATE TRIGGER refuse BEFORE INSERT ON signals FOR EACH ROW EXECUTE FUNCTION refuse();
    """)


async def accept_signals(db: asyncpg.Pool) -> None:
    await db.execute("DROP TRIGGER refuse ON signals")


async def test_no_puback_while_the_database_refuses_then_delivery_once_it_recovers(
    mqtt_receiver: RunningReceiver, panel: MqttPanel, account: str, db: asyncpg.Pool
) -> None:
    await refuse_signals(db)
    await panel.publish(account, "events", event(account, 30))
    with pytest.raises(TimeoutError):
        await panel.answer(timeout=1.5)
    assert mqtt_receiver.mqtt is not None and mqtt_receiver.mqtt.waiting == 1, "held, not acknowledged"
    await accept_signals(db)
    _, raw = await panel.answer(timeout=15)
    assert json.loads(raw) == {"seq": 30, "status": "ack"}
    assert mqtt_receiver.mqtt.waiting == 0
    assert await db.fetchval("SELECT count(*) FROM signals WHERE account = $1", account) == 1


@pytest.mark.skipif(EMBEDDED, reason="amqtt 0.12 does not end a session that a new connection takes over")
async def test_the_receiver_resubscribes_after_losing_its_connection(
    mqtt_receiver: RunningReceiver, panel: MqttPanel, account: str, db: asyncpg.Pool
) -> None:
    transport = mqtt_receiver.mqtt
    assert transport is not None and transport.connections == 1
    # The broker drops the receiver: another client takes over its client id (a broker forgetting its sessions
    # looks the same to the receiver), so the receiver reconnects and must subscribe again.
    async with connect_client(transport.settings, clean=True):
        pass
    for _ in range(100):
        if transport.connections == 2 and transport.connected.is_set():
            break
        await asyncio.sleep(0.1)
    assert transport.connections == 2
    await panel.publish(account, "events", event(account, 40))
    assert json.loads((await panel.answer(timeout=15))[1]) == {"seq": 40, "status": "ack"}
