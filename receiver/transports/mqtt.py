"""MQTT into the one ingest pipeline: QoS 1, PUBACK only after the commit, answers on alarmhub/panels/<acct>/ack.

Panels (or gateways) publish a DC-09 frame on ``alarmhub/panels/<acct>/dc09`` or a JSON event on
``alarmhub/panels/<acct>/events``. The broker may consider a message delivered only once its signal is committed,
so the PUBACK is held back until then: aiomqtt acknowledges on receipt, which is why this module — and only this
module — reaches into aiomqtt for its paho client (manual acknowledgement, our own message callback, the broker's
receive maximum). ``tests/receiver/test_mqtt_internals.py`` fails loudly when an upgrade moves those internals.

Delivery guarantees rest on the broker's persistent session: a fixed client id, no clean start, a long session
expiry. Whatever was not acknowledged when the connection (or the process) died is redelivered by the broker, and
the idempotent store keeps one copy.
"""

from __future__ import annotations

import asyncio
import re
import socket
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote, urlsplit

import aiomqtt
import paho.mqtt.client as paho
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from receiver import metrics
from receiver.connection_ids import next_connection_id
from receiver.dc09 import Envelope, Rejection, RejectReason, nak, parse_envelope, split_datagram
from receiver.ingest import Ingestor, PendingAnswer
from receiver.mqtt_events import EventRejection, decode_event, event_answer
from shared import aio
from shared.config import Config
from shared.logs import get_logger

log = get_logger(__name__)

TRANSPORT = "mqtt"
TOPIC_ROOT = "alarmhub/panels"
TOPIC_FILTERS = (f"{TOPIC_ROOT}/+/dc09", f"{TOPIC_ROOT}/+/events")
_TOPIC = re.compile(r"alarmhub/panels/(?P<account>[^/]*)/(?P<kind>dc09|events)")
# The account in a DC-09 header (clear text even when the message is encrypted), read without the CRC check that
# the pipeline does anyway, from the frame's start as decode.read_header reads it: optional LF, CRC (four hex digits
# or two binary bytes), length, then ID token, sequence, optional receiver, optional line, #account before the data
# block. Anchored, so an account spelled inside the data or x-data cannot stand in for the header's. A frame it does
# not match (no #account in the header: the data block names it) takes the full parse (parse_envelope).
_FRAME_ACCOUNT = re.compile(
    rb"\n?+(?:[0-9A-Fa-f]{4}|[\x00-\xff]{2})0[0-9A-Fa-f]{3}"
    rb'"\*?[A-Za-z0-9-]{1,16}"[0-9]{4}(?:R[0-9A-Fa-f]{1,6})?(?:L[0-9A-Fa-f]{0,6}?)?#([0-9A-Fa-f]{3,16})\['
)
# Messages the broker may send before the first PUBACK (MQTT 5 Receive Maximum). It bounds the memory held for
# uncommitted messages and must cover a few batches' worth of commit latency, or the broker becomes the brake.
RECEIVE_MAXIMUM = 4096
SESSION_EXPIRY = 7 * 24 * 3600  # seconds a receiver may stay away and find its unacknowledged messages kept
BACKOFF_FIRST, BACKOFF_LONGEST = 0.5, 30.0
RETRY_FIRST, RETRY_LONGEST = 0.5, 5.0  # resubmitting a message the database could not take


def ack_topic(account: str) -> str:
    return f"{TOPIC_ROOT}/{account}/ack"


@dataclass(frozen=True, slots=True)
class MqttSettings:
    """How the receiver reaches its broker (from ``mqtt.*``; see ``mqtt_settings``)."""

    host: str
    port: int
    client_id: str
    username: str | None = None
    password: str | None = None
    tls: bool = False
    ca_file: str | None = None
    shared_group: str | None = "alarmhub"  # None: plain subscriptions (one receiver, or a broker without $share)
    mqtt5: bool = True
    max_frame_length: int = 1024

    @property
    def filters(self) -> tuple[str, ...]:
        if self.shared_group is None:
            return TOPIC_FILTERS
        return tuple(f"$share/{self.shared_group}/{topic}" for topic in TOPIC_FILTERS)

    @property
    def address(self) -> str:
        return f"{'mqtts' if self.tls else 'mqtt'}://{self.host}:{self.port}"


def mqtt_settings(config: Config, broker_url: str | None) -> MqttSettings | None:
    """The settings for `broker_url` (the embedded broker's URL when ``mqtt.url = "embedded"``); None: no MQTT."""
    if not broker_url:
        return None
    parts = urlsplit(broker_url)
    tls = parts.scheme == "mqtts"
    embedded = config["mqtt.url"] == "embedded"  # amqtt: MQTT 3.1.1 only, no shared subscriptions
    return MqttSettings(
        host=parts.hostname or "127.0.0.1",
        port=parts.port or (8883 if tls else 1883),
        client_id=config["mqtt.client_id"],
        username=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password else None,
        tls=tls,
        ca_file=config["mqtt.ca_file"] or None,
        shared_group=None if embedded or not config["mqtt.shared_group"] else config["mqtt.shared_group"],
        mqtt5=not embedded and config["mqtt.protocol"] == "5",
        max_frame_length=config["receiver.max_frame_length"],
    )


# -- the reach into aiomqtt: every private name this module uses is here and guarded by test_mqtt_internals


def paho_client(client: aiomqtt.Client) -> paho.Client:
    """The paho client under an aiomqtt client (aiomqtt 2.x keeps it as ``_client``)."""
    inner = getattr(client, "_client", None)
    if not isinstance(inner, paho.Client):
        raise RuntimeError("aiomqtt no longer exposes its paho client as _client; update receiver/transports/mqtt.py")
    return inner


def on_each_message(client: aiomqtt.Client, on_message: Callable[[paho.MQTTMessage], None]) -> None:
    """Hand every message to `on_message` on the event loop thread instead of aiomqtt's queue (no task per
    message); paho still acknowledges on receipt. For panel-side clients (the simulator, the benchmark)."""
    paho_client(client).on_message = lambda _client, _userdata, message: on_message(message)


def take_over_delivery(
    client: aiomqtt.Client,
    on_message: Callable[[paho.MQTTMessage], None],
    on_published: Callable[[], None] | None = None,
) -> paho.Client:
    """Before connecting: acknowledge by hand, hand each message to `on_message` on the event loop thread (no
    per-message task, no queue), publish no more QoS 1 answers at once than the broker's Receive Maximum, and
    call `on_published` (soon, on the loop) whenever the broker acknowledges one of ours, freeing a place."""
    inner = paho_client(client)
    inner.manual_ack_set(True)
    # aiomqtt hands paho a logger, and paho then formats a debug record for every packet it reads or writes
    # (a few percent of the receiver's time at load); errors still surface through aiomqtt's own exceptions.
    inner.disable_logger()
    inner.on_message = lambda _client, _userdata, message: on_message(message)
    aiomqtt_on_connect = inner.on_connect
    if aiomqtt_on_connect is None:
        raise RuntimeError("aiomqtt no longer sets paho's on_connect; update receiver/transports/mqtt.py")

    if not isinstance(getattr(inner, "_max_inflight_messages", None), int):
        raise RuntimeError("paho no longer keeps _max_inflight_messages; update receiver/transports/mqtt.py")

    def on_connect(*args: Any) -> None:
        # MQTT 5's CONNACK names how many unacknowledged QoS 1 publishes the broker accepts (absent: 65535);
        # paho ignores it and offers no public way to change the limit once connected.
        properties = args[4] if len(args) > 4 else None
        receive_maximum = getattr(properties, "ReceiveMaximum", None)
        inner._max_inflight_messages = receive_maximum if isinstance(receive_maximum, int) else 65535
        aiomqtt_on_connect(*args)

    inner.on_connect = on_connect
    if not isinstance(getattr(inner, "_inflight_messages", None), int):
        raise RuntimeError("paho no longer keeps _inflight_messages; update receiver/transports/mqtt.py")
    if on_published is not None:
        aiomqtt_on_publish = inner.on_publish
        loop = asyncio.get_running_loop()

        def on_publish(*args: Any) -> None:
            if aiomqtt_on_publish is not None:
                aiomqtt_on_publish(*args)
            loop.call_soon(on_published)  # paho frees the place only after this callback returns

        inner.on_publish = on_publish
    return inner


def answer_room(client: paho.Client, answers: int) -> bool:
    """Whether `answers` QoS 1 publishes would leave paho at once. Past the broker's Receive Maximum paho keeps
    them in memory and sends them as earlier ones are acknowledged; a PUBACK written meanwhile would reach the
    broker first, and a crash then loses the answer while the broker, holding its PUBACK, never redelivers."""
    most, flying = client._max_inflight_messages, client._inflight_messages
    return most == 0 or flying == 0 or flying + answers <= most


def connect_client(settings: MqttSettings, *, client_id: str | None = None, clean: bool = False) -> aiomqtt.Client:
    """An aiomqtt client for `settings`; a persistent session unless `clean`."""
    properties: Properties | None = None
    if settings.mqtt5:
        properties = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
        properties.SessionExpiryInterval = 0 if clean else SESSION_EXPIRY
        properties.ReceiveMaximum = RECEIVE_MAXIMUM
    tls = aiomqtt.TLSParameters(ca_certs=settings.ca_file) if settings.tls else None
    return aiomqtt.Client(
        settings.host,
        settings.port,
        username=settings.username,
        password=settings.password,
        identifier=client_id or settings.client_id,
        protocol=aiomqtt.ProtocolVersion.V5 if settings.mqtt5 else aiomqtt.ProtocolVersion.V311,
        clean_session=None if settings.mqtt5 else clean,
        # MQTT 5: never "first only" (paho's default), or a restarted receiver would throw its session away
        clean_start=clean if settings.mqtt5 else paho.MQTT_CLEAN_START_FIRST_ONLY,
        properties=properties,
        tls_params=tls,
        # paho leaves Nagle on: a small answer or PUBACK would wait for the peer's delayed ACK (40 ms on Linux)
        socket_options=((socket.IPPROTO_TCP, socket.TCP_NODELAY, 1),),
        keepalive=30,
        timeout=10,
    )


# -- one message on its way from the broker to the database and back


class _Delivery:
    """One received message: waits for its commit, then its answers are published and it is acknowledged."""

    __slots__ = ("account", "answers", "kind", "mid", "payload", "qos", "ready", "retry_in", "topic")

    def __init__(self, message: paho.MQTTMessage) -> None:
        self.mid = message.mid
        self.qos = message.qos
        self.payload = bytes(message.payload)
        self.topic = message.topic
        match = _TOPIC.fullmatch(self.topic)
        self.account = match["account"] if match else ""
        self.kind = match["kind"] if match else ""
        self.answers: list[bytes] = []
        self.ready = False
        self.retry_in = RETRY_FIRST


class _Connection:
    """One broker connection: packet ids belong to it, so a message is acknowledged on the connection that
    brought it or not at all (the broker redelivers it on the next one). PUBACKs leave in arrival order, as
    MQTT requires; a message whose commit is slow holds back the ones behind it."""

    def __init__(self, transport: MqttTransport) -> None:
        self._transport = transport
        self._ingestor = transport.ingestor
        self._max_frame = transport.settings.max_frame_length
        self._loop = asyncio.get_running_loop()
        self._queue: deque[_Delivery] = deque()
        self.paho: paho.Client | None = None
        self.open = True
        # Bound once per broker connection (never per message), so its lines can be followed by the id.
        self.log = log.bind(connection_id=next_connection_id(), peer=transport.settings.address)

    def on_message(self, message: paho.MQTTMessage) -> None:
        self._transport.received += 1
        delivery = _Delivery(message)
        self._queue.append(delivery)
        self._process(delivery)

    def close(self) -> None:
        self.open = False
        self._queue.clear()

    @property
    def waiting(self) -> int:
        return len(self._queue)

    def _process(self, delivery: _Delivery) -> None:
        if not self.open:
            return
        try:
            if delivery.kind == "dc09":
                self._frames(delivery)
            elif delivery.kind == "events":
                self._event(delivery)
            else:  # a topic our filters should not have matched: nothing to store, nothing to redeliver
                self._finish(delivery, [])
        except Exception as error:  # a bug must not turn one message into a redelivery loop: record, let it go
            self.log.exception("MQTT message could not be processed", topic=delivery.topic)
            rejection = Rejection(RejectReason.MALFORMED, f"internal error: {error!r}"[:200], delivery.payload)
            self._ingestor.record_rejection(rejection, TRANSPORT, delivery.topic, delivery.account or None)
            self._finish(delivery, [])

    def _frames(self, delivery: _Delivery) -> None:
        payload, peer = delivery.payload, delivery.topic
        if len(payload) > self._max_frame:
            rejection = Rejection(RejectReason.TOO_LONG, f"payload of {len(payload)} bytes", payload)
            self._ingestor.record_rejection(rejection, TRANSPORT, peer, delivery.account or None)
            self._finish(delivery, [nak(datetime.now(UTC))])
            return
        items = split_datagram(payload, self._max_frame) or [Rejection(RejectReason.GARBAGE, "empty payload", b"")]
        results: list[bytes | PendingAnswer | None] = []
        topic_account = delivery.account.upper()
        for item in items:
            if isinstance(item, bytes):
                header = _FRAME_ACCOUNT.match(item)
                # Fast path: the header names the topic's account. Otherwise (another account, none in the header,
                # an odd shape) the full parse reads the account the pipeline will store, so a corrupt frame also
                # gets its own reason from the pipeline.
                if header is None or header[1].decode().upper() != topic_account:
                    envelope = parse_envelope(item)
                    if isinstance(envelope, Envelope) and envelope.account.upper() != topic_account:
                        detail = f"account {envelope.account} does not match the topic's {delivery.account[:40]}"
                        rejection = Rejection(RejectReason.MALFORMED, detail, envelope.raw)
                        self._ingestor.record_rejection(rejection, TRANSPORT, peer, envelope.account)
                        results.append(nak(datetime.now(UTC), crc_binary=envelope.crc_binary))
                        continue
            results.append(self._ingestor.receive(item, TRANSPORT, peer))
        pending = [result for result in results if isinstance(result, PendingAnswer)]
        if not pending:
            self._finish(delivery, [result for result in results if isinstance(result, bytes)])
            return
        remaining = len(pending)

        def committed() -> None:
            nonlocal remaining
            remaining -= 1
            if remaining:
                return
            answers = [result.answer() if isinstance(result, PendingAnswer) else result for result in results]
            if any(not _stored(result) for result in pending):
                self._retry(delivery)
            else:
                self._finish(delivery, [answer for answer in answers if answer is not None])

        for result in pending:
            result.when_settled(committed)

    def _event(self, delivery: _Delivery) -> None:
        decoded = decode_event(delivery.payload, delivery.account)
        if isinstance(decoded, EventRejection):
            self._ingestor.record_rejection(decoded.rejection, TRANSPORT, delivery.topic, delivery.account or None)
            self._finish(delivery, [event_answer(decoded.seq, decoded.rejection)])
            return
        seq = int(decoded.envelope.sequence)
        future = self._ingestor.submit_message(decoded, TRANSPORT, delivery.topic)
        if isinstance(future, Rejection):  # the account policy said no (a keyed account, a stale event time)
            self._ingestor.record_rejection(future, TRANSPORT, delivery.topic, delivery.account or None)
            self._finish(delivery, [event_answer(seq, future)])
            return

        def committed(done: asyncio.Future[None]) -> None:
            if done.cancelled() or done.exception() is not None:
                self._retry(delivery)
            else:
                self._finish(delivery, [event_answer(seq)])

        future.add_done_callback(committed)

    def _retry(self, delivery: _Delivery) -> None:
        """The database could not take it: no PUBACK; try again (the broker keeps it should we die meanwhile)."""
        if not self.open:
            return
        self._transport.warn_unstored(delivery.retry_in)
        self._loop.call_later(delivery.retry_in, self._process, delivery)
        delivery.retry_in = min(delivery.retry_in * 2, RETRY_LONGEST)

    def _finish(self, delivery: _Delivery, answers: list[bytes]) -> None:
        delivery.answers = answers
        delivery.ready = True
        self.flush()

    def flush(self) -> None:
        """Answer and acknowledge, in arrival order, every message whose commit is done — each answer written
        to the socket before its message's PUBACK, so a crash in between repeats the answer, never skips it.
        With the broker's window for our answers full, wait for it to acknowledge one (it calls this again)."""
        queue, client = self._queue, self.paho
        if not self.open or client is None:
            return
        while queue and queue[0].ready:
            done = queue[0]
            if done.answers and not answer_room(client, len(done.answers)):
                return
            queue.popleft()
            for answer in done.answers:
                client.publish(ack_topic(done.account), answer, qos=1)
            if done.qos > 0:
                client.ack(done.mid, done.qos)


def _stored(pending: PendingAnswer) -> bool:
    return pending.settled and pending.error is None


class MqttTransport:
    """Keeps one connection to the broker, subscribed with QoS 1, reconnecting with backoff until cancelled."""

    def __init__(self, ingestor: Ingestor, settings: MqttSettings) -> None:
        self.ingestor = ingestor
        self.settings = settings
        self.connected = asyncio.Event()
        self.connections = 0
        self.received = 0  # messages taken from the broker, redeliveries included
        self._connection: _Connection | None = None
        self._last_warning = 0.0

    @property
    def waiting(self) -> int:
        """Messages received and not yet acknowledged on the current connection."""
        return self._connection.waiting if self._connection is not None else 0

    async def run(self) -> None:
        """Stay connected until cancelled, exported meanwhile in the receiver's MQTT metrics."""
        with metrics.MQTT.watching(self):
            await self._connect_forever()

    async def _connect_forever(self) -> None:
        backoff = BACKOFF_FIRST
        while True:
            connection = _Connection(self)
            client = connect_client(self.settings)
            connection.paho = take_over_delivery(client, connection.on_message, connection.flush)
            self._connection = connection
            try:
                async with client:
                    await self._subscribe(client)
                    self.connections += 1
                    self.connected.set()
                    backoff = BACKOFF_FIRST
                    connection.log.info("MQTT connected", topics=list(self.settings.filters))
                    async for _ in client.messages:  # our callback takes every message; this ends on disconnect
                        pass
            except aiomqtt.MqttError as error:
                connection.log.warning("MQTT broker unreachable or connection lost", error=str(error), retry_in=backoff)
            except Exception:  # whatever it was, the receiver keeps trying rather than go deaf on MQTT
                connection.log.exception("MQTT connection failed", retry_in=backoff)
            finally:
                connection.close()
                self.connected.clear()
            await aio.sleep(backoff)
            backoff = min(backoff * 2, BACKOFF_LONGEST)

    async def _subscribe(self, client: aiomqtt.Client) -> None:
        """Subscribe on every connection: a broker that lost the session (restart without persistence) would
        otherwise leave the receiver connected and deaf."""
        granted = await client.subscribe([(topic, 1) for topic in self.settings.filters])
        refused = [topic for topic, code in zip(self.settings.filters, granted, strict=False) if _failed(code)]
        if refused:
            raise aiomqtt.MqttError(f"the broker refused the subscription to {', '.join(refused)}")

    def warn_unstored(self, retry_in: float) -> None:
        now = time.monotonic()
        if now - self._last_warning > 5:
            self._last_warning = now
            log.warning("MQTT messages wait for the database; not acknowledged", retry_in=retry_in)


def _failed(code: object) -> bool:
    value = getattr(code, "value", code)
    return isinstance(value, int) and value >= 0x80
