"""What a fuzz run is asked to do (FuzzPlan) and the MQTT broker it uses."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from urllib.parse import urlsplit

from bench.fuzz.panels import MQTT_PANELS
from receiver.transports.mqtt import MqttSettings

MAX_FRAME_LENGTH = 1024  # receiver.max_frame_length, left at its default
MIB = 1024 * 1024


@dataclass(frozen=True, slots=True)
class FuzzPlan:
    frames: int = 1_000_000
    seed: int = 1
    tcp_connections: int = 12
    udp_sockets: int = 6
    mqtt_sessions: int = len(MQTT_PANELS)
    shares: tuple[float, float, float] = (0.6, 0.3, 0.1)  # of the frames: TCP, UDP, MQTT
    canary_every: int = 500  # a known-good frame after this many inputs of one session
    stall_every: int = 10_000  # a TCP session leaves half a frame after this many inputs (0: never)
    frame_timeout: float = 1.0  # receiver.frame_timeout for the run: how soon a stalled connection is cut
    answer_timeout: float = 10.0  # seconds an expected answer may take
    warmup: float = 0.05  # share of the frames sent before the RSS baseline is taken
    rss_allowance: int = 24 * MIB
    max_frame_length: int = MAX_FRAME_LENGTH


@dataclass(frozen=True, slots=True)
class Broker:
    url: str
    mqtt5: bool = True  # False: MQTT 3.1.1 and plain subscriptions (the embedded amqtt broker of the tests)

    def settings(self, client_id: str) -> MqttSettings:
        parts = urlsplit(self.url)
        return MqttSettings(
            host=parts.hostname or "127.0.0.1",
            port=parts.port or 1883,
            client_id=client_id,
            shared_group=f"fuzz-{secrets.token_hex(4)}" if self.mqtt5 else None,
            mqtt5=self.mqtt5,
        )
