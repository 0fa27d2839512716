"""Virtual panels over MQTT: DC-09 frames and JSON events published with QoS 1, each waiting for its answer.

A panel publishes on ``alarmhub/panels/<acct>/dc09`` (every other message a JSON event on ``…/events``) and sends
its next message once the answer arrives on ``…/ack``, as on TCP. With ``bare_subscriber`` the messages go under a
private topic root to a plain QoS 1 subscriber instead, whose receipt counts as the answer: the broker's own round
trip with the same load, which the benchmark sets against the receiver's.
"""

from __future__ import annotations

import asyncio
import json
import re
import secrets
import time
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from datetime import UTC, datetime

import paho.mqtt.client as paho

from receiver.simulator.client import PanelSession, Tally, answer_kind
from receiver.simulator.traffic import TRAFFIC_MIX, VirtualPanel
from receiver.transports.mqtt import TOPIC_ROOT, MqttSettings, connect_client, on_each_message, paho_client

_WEIGHTS = [weight for weight, *_ in TRAFFIC_MIX]
_BARE_ANSWER = b"\n0000000C" + b'"ACK"'  # what a bare subscriber's receipt counts as (answer_kind reads "ack")


@dataclass(slots=True)
class MqttVirtualPanel:
    """A VirtualPanel whose every `events_every`-th message is the JSON event of SPEC §3 instead of a frame."""

    panel: VirtualPanel
    events_every: int = 2
    sent: int = field(default=0)

    @property
    def account(self) -> str:
        return self.panel.account

    def next_frame(self) -> bytes:
        self.sent += 1
        if self.events_every and self.sent % self.events_every == 0:
            return self.next_event()
        return self.panel.next_frame()

    def next_event(self, now: datetime | None = None) -> bytes:
        panel = self.panel
        _, fmt, code, qualifier = panel.rng.choices(TRAFFIC_MIX, _WEIGHTS)[0]
        if fmt == "ADM-CID":
            code = {1: "E", 3: "R"}.get(qualifier, "E") + code
        sequence, panel.sequence = panel.sequence, panel.sequence % 9999 + 1
        moment = (now or datetime.now(UTC)).replace(microsecond=0)
        document = {
            "account": panel.account,
            "format": fmt,
            "code": code,
            "zone": str(panel.rng.randint(1, 32)),
            "partition": "1",
            "seq": sequence,
            "time": moment.isoformat().replace("+00:00", "Z"),
        }
        return json.dumps(document, separators=(",", ":")).encode()


def mqtt_answer_kind(answer: bytes) -> str:
    """ "ack", "nak" or "duh" of a DC-09 answer frame or a JSON answer."""
    if answer[:1] == b"{":
        try:
            status = json.loads(answer).get("status")
        except (ValueError, AttributeError):
            return "other"
        return status if status in ("ack", "nak") else "other"
    return answer_kind(answer)


_SEQUENCE = re.compile(rb'"\*?[A-Za-z0-9-]{1,16}"([0-9]{4})|"seq":\s*([0-9]+)')


def _sequence(payload: bytes) -> int | None:
    """The sequence number of a DC-09 frame or answer, or the seq of a JSON event or answer."""
    match = _SEQUENCE.search(payload)
    if match is None:
        return None
    return int(match[1] or match[2])


class _MqttSession(PanelSession):
    def answered(self, answer: bytes) -> None:
        if self.outstanding is None:
            return
        if answer is not _BARE_ANSWER:
            # A late answer (to a message retransmitted after a timeout, or redelivered) must not answer the
            # next message; a DC-09 NAK names no sequence (0000) and answers whatever is outstanding.
            number = _sequence(answer)
            if number not in (0, _sequence(self.outstanding)):
                return
        if self.timer is not None:
            self.timer.cancel()
        self.tally.answered(mqtt_answer_kind(answer), time.perf_counter() - self.sent_at, self.outstanding)
        self.outstanding = None
        if self.interval:
            self.loop.call_later(max(0.0, self.interval - (time.perf_counter() - self.sent_at)), self.next)
        else:
            self.next()


async def run_mqtt_panels(
    panels: list[VirtualPanel],
    settings: MqttSettings,
    *,
    duration: float,
    rate: float = 0.0,
    answer_timeout: float = 10.0,
    events_every: int = 2,
    clients: int = 1,
    bare_subscriber: bool = False,
    tally: Tally | None = None,
) -> Tally:
    """Drive every panel over the broker for `duration` s; `rate` is the total messages/s (0: as answered)."""
    loop = asyncio.get_running_loop()
    tally = tally if tally is not None else Tally()
    interval = len(panels) / rate if rate > 0 else 0.0
    root = f"bench/{secrets.token_hex(4)}/panels" if bare_subscriber else TOPIC_ROOT
    finished = loop.create_future()
    remaining = len(panels)

    def panel_done() -> None:
        nonlocal remaining
        remaining -= 1
        if remaining == 0 and not finished.done():
            finished.set_result(None)

    sessions: dict[str, _MqttSession] = {}
    stop_at = time.perf_counter() + duration + 3600  # set for real once everything is connected

    def on_answer(message: paho.MQTTMessage) -> None:
        account = message.topic.split("/")[-2]
        session = sessions.get(account)
        if session is not None:
            session.answered(_BARE_ANSWER if bare_subscriber else bytes(message.payload))

    async with AsyncExitStack() as stack:
        publishers: list[paho.Client] = []
        for number in range(max(1, clients)):
            client = connect_client(settings, client_id=f"alarmhub-sim-{secrets.token_hex(4)}-{number}", clean=True)
            if not bare_subscriber:
                on_each_message(client, on_answer)
            await stack.enter_async_context(client)
            publishers.append(paho_client(client))
            accounts = [panel.account for panel in panels[number :: max(1, clients)]]
            if not bare_subscriber and accounts:
                await client.subscribe([(f"{TOPIC_ROOT}/{account}/ack", 1) for account in accounts])
        if bare_subscriber:
            subscriber = connect_client(settings, client_id=f"alarmhub-bare-{secrets.token_hex(4)}", clean=True)
            on_each_message(subscriber, on_answer)
            await stack.enter_async_context(subscriber)
            await subscriber.subscribe([(f"{root}/+/dc09", 1), (f"{root}/+/events", 1)])

        for index, panel in enumerate(panels):
            publisher = publishers[index % len(publishers)]
            source = MqttVirtualPanel(panel, events_every)
            session = _MqttSession(
                source,  # type: ignore[arg-type]
                tally,
                interval=interval,
                stop_at=stop_at,
                answer_timeout=answer_timeout,
                on_done=panel_done,
            )

            def send(payload: bytes, account: str = panel.account, publisher: paho.Client = publisher) -> None:
                kind = "events" if payload[:1] == b"{" else "dc09"
                publisher.publish(f"{root}/{account}/{kind}", payload, qos=1)

            session.send = send
            sessions[panel.account] = session
        stop_at = time.perf_counter() + duration
        for index, session in enumerate(sessions.values()):
            session.stop_at = stop_at
            session.start((index / len(sessions)) * interval)
        await asyncio.wait_for(finished, duration + answer_timeout + 5)
    return tally


async def simulate_mqtt(
    panels: int, rate: float, duration: float, encrypted: bool, settings: MqttSettings, database_url: str | None
) -> Tally:
    """`alarmhub simulate --transport mqtt`: enrol the virtual panels, then drive them through the broker."""
    from receiver.simulator.enrol import enrol_before_sending
    from receiver.simulator.run import virtual_panels

    virtual = virtual_panels(panels, encrypted)
    await enrol_before_sending(virtual, database_url)
    return await run_mqtt_panels(virtual, settings, duration=duration, rate=rate)
