"""An MQTT session: one topic account, payloads on its dc09 and events topics, answers on its ack topic."""

from __future__ import annotations

import asyncio
import random
import secrets

import paho.mqtt.client as paho

from bench.fuzz.inputs import FrameFactory, Unit
from bench.fuzz.panels import FUZZ_PANELS, Panel
from bench.fuzz.session import FuzzRun
from receiver.transports.mqtt import TOPIC_ROOT, ack_topic, connect_client, on_each_message, paho_client


class MqttSession:
    """One topic account: a payload on its dc09 or events topic, then its answers on its ack topic, in order."""

    def __init__(self, run: FuzzRun, number: int, panel: Panel) -> None:
        self.run = run
        self.number = number
        self.panel = panel
        self.factory = FrameFactory(random.Random(f"{run.plan.seed}/mqtt/{number}"), run.plan.max_frame_length)
        self.canaries = 0
        self.sent = 0
        self.inbox: asyncio.Queue[bytes] = asyncio.Queue()
        self.publisher: paho.Client | None = None

    async def send(self, count: int) -> None:
        assert self.run.broker is not None
        settings = self.run.broker.settings(f"alarmhub-fuzz-{secrets.token_hex(4)}-{self.number}")
        client = connect_client(settings, clean=True)
        on_each_message(client, lambda message: self.inbox.put_nowait(bytes(message.payload)))
        async with client:
            await client.subscribe(ack_topic(self.panel.account), qos=1)
            self.publisher = paho_client(client)
            for _ in range(count):
                self.sent += 1
                if self.sent % self.run.plan.canary_every == 0:
                    await self._canary()
                kind, unit = self._unit()
                self.run.tally.frames["mqtt"] += 1
                self.run.tally.mutations[unit.mutation] += 1
                await self._exchange(kind, unit)
            await self._canary()

    def _unit(self) -> tuple[str, Unit]:
        rng = self.factory.rng
        if rng.random() < 0.5:
            return "events", self.factory.event_unit(self.panel)
        panel = self.panel if self.panel.account and rng.random() < 0.85 else rng.choice(FUZZ_PANELS)
        return "dc09", self.factory.stream_unit(panel, topic=self.panel)

    async def _canary(self) -> None:
        if not self.panel.account:
            return  # no frame can name the topic's (missing) account
        self.canaries += 1
        self.run.tally.canaries["mqtt"] += 1
        frame = self.factory.canary(self.panel, f"{0x200 + self.number:X}", self.canaries)
        await self._exchange("dc09", Unit(frame, "canary", ("ack",)), canary=True)

    async def _exchange(self, kind: str, unit: Unit, *, canary: bool = False) -> None:
        tally, oracle = self.run.tally, self.run.oracle
        if kind == "events":
            expected = oracle.event(unit.data, self.panel.account)
        else:
            expected = oracle.dc09_payload(unit.data, self.panel.account)
        self.run.check_intent("mqtt", unit, expected)
        tally.expect("mqtt", expected)
        assert self.publisher is not None
        self.publisher.publish(f"{TOPIC_ROOT}/{self.panel.account}/{kind}", unit.data, qos=1)
        wanted = [entry for entry in expected if entry.kind is not None]
        right = True
        try:
            async with asyncio.timeout(self.run.plan.answer_timeout):
                while wanted:
                    right = tally.answered("mqtt", await self.inbox.get(), wanted.pop(0), unit.data) and right
        except TimeoutError:
            tally.problem("timeout", "mqtt", f"{len(wanted)} answers missing", unit.data)
            return
        if canary and right:
            tally.acked_canaries.append(unit.data)
