"""The receiver's Prometheus metrics (SPEC X3): frames by outcome, rejections by reason, batches, ACK latency, the
MQTT connection; and the standalone receiver's /metrics and /healthz server."""

from __future__ import annotations

import asyncio
import bisect
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from contextlib import asynccontextmanager, contextmanager
from typing import Protocol

from aiohttp import web
from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector

from shared.health import health_response
from shared.http_server import Handler, serve_metrics, small_server


class HotCounter(Collector):
    """A labelled counter updated for every frame: a plain dict of ints, read at scrape time.

    prometheus_client's own Counter takes a lock on every inc (~1 µs); the receiver counts from one event loop,
    so an addition to a dict is enough, and the registry collects the totals when /metrics is read.
    """

    def __init__(
        self,
        name: str,
        documentation: str,
        labelnames: tuple[str, ...],
        registry: CollectorRegistry | None = REGISTRY,
    ) -> None:
        self._name, self._documentation, self._labelnames = name, documentation, labelnames
        self.values: dict[tuple[str, ...], float] = {}
        if registry is not None:
            registry.register(self)

    def inc(self, labels: tuple[str, ...], amount: float = 1) -> None:
        values = self.values
        values[labels] = values.get(labels, 0) + amount

    def collect(self) -> Iterator[CounterMetricFamily]:
        family = CounterMetricFamily(self._name, self._documentation, labels=self._labelnames)
        for labels, value in list(self.values.items()):
            family.add_metric(labels, value)
        yield family


class HotHistogram(Collector):
    """A histogram observed for every frame, kept as plain per-bucket counts (see HotCounter)."""

    def __init__(
        self, name: str, documentation: str, buckets: tuple[float, ...], registry: CollectorRegistry | None = REGISTRY
    ) -> None:
        self._name, self._documentation, self._bounds = name, documentation, buckets
        self._counts = [0] * (len(buckets) + 1)  # the last one: above every bound (+Inf)
        self._sum = 0.0
        if registry is not None:
            registry.register(self)

    def observe(self, value: float) -> None:
        self._counts[bisect.bisect_left(self._bounds, value)] += 1
        self._sum += value

    def collect(self) -> Iterator[HistogramMetricFamily]:
        cumulative, running = [], 0
        for bound, count in zip((*self._bounds, float("inf")), list(self._counts), strict=True):
            running += count
            cumulative.append(("+Inf" if bound == float("inf") else repr(float(bound)), running))
        yield HistogramMetricFamily(self._name, self._documentation, buckets=cumulative, sum_value=self._sum)


class MqttState(Protocol):
    """What the MQTT metrics read from a transport (receiver/transports/mqtt.py's MqttTransport)."""

    connected: asyncio.Event
    connections: int  # made so far, the first included

    @property
    def waiting(self) -> int: ...


class MqttGauges(Collector):
    """The MQTT transport's state, read from it when /metrics is scraped (nothing is counted per message). No
    series while no transport runs in the process, so a receiver without MQTT raises no MQTT alert."""

    def __init__(self, registry: CollectorRegistry | None = REGISTRY) -> None:
        self._transports: list[MqttState] = []
        if registry is not None:
            registry.register(self)

    @contextmanager
    def watching(self, transport: MqttState) -> Iterator[None]:
        """Export `transport` while the block runs."""
        self._transports.append(transport)
        try:
            yield
        finally:
            self._transports.remove(transport)

    def collect(self) -> Iterator[Metric]:
        transports = list(self._transports)
        if not transports:
            return
        yield GaugeMetricFamily(
            "alarmhub_receiver_mqtt_connected",
            "1 while the receiver is connected and subscribed to the MQTT broker, 0 while it reconnects.",
            value=min(int(transport.connected.is_set()) for transport in transports),
        )
        yield GaugeMetricFamily(
            "alarmhub_receiver_mqtt_waiting_messages",
            "MQTT messages received and not yet acknowledged to the broker: waiting for their commit.",
            value=sum(transport.waiting for transport in transports),
        )
        yield CounterMetricFamily(
            "alarmhub_receiver_mqtt_reconnects",
            "Connections to the MQTT broker made again after the first (a lost connection, a broker restart).",
            value=sum(max(transport.connections - 1, 0) for transport in transports),
        )


FRAMES = HotCounter(
    "alarmhub_receiver_frames_total", "Frames received, by transport and answer.", ("transport", "answer")
)
SIGNALS_STORED = HotCounter(
    "alarmhub_receiver_signals_total", "Signals (events) committed, by transport.", ("transport",)
)
UNKNOWN_ACCOUNT = Counter(
    "alarmhub_receiver_unknown_account_signals_total", "Signals stored from accounts that are not enrolled."
)
REJECTED = Counter("alarmhub_receiver_rejected_frames_total", "Rejected input, by reason.", ["reason"])
NOT_STORED = Counter(
    "alarmhub_receiver_unstored_frames_total", "Frames left unacknowledged because the database could not take them."
)
BATCH_ROWS = Histogram(
    "alarmhub_receiver_batch_rows",
    "Signals per committed batch.",
    buckets=(1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000),
)
ACK_LATENCY = HotHistogram(
    "alarmhub_receiver_ack_latency_seconds",
    "From a frame's arrival to its ACK.",
    buckets=(0.001, 0.002, 0.005, 0.01, 0.015, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
)
TOLERATED = HotCounter(
    "alarmhub_receiver_tolerated_deviations_total",
    "Frames accepted although they deviate from DC-09 (e.g. no L field), by deviation.",
    ("deviation",),
)
ADDRESS_CAP_REFUSED = Counter(
    "alarmhub_receiver_address_cap_refused_total",
    "TCP connections closed at once because their address already had receiver.max_connections_per_address open.",
)
LIMIT_REFUSED = Counter(
    "alarmhub_receiver_connection_limit_refused_total",
    "TCP connections closed at once because receiver.max_connections were open.",
)
REJECTED_UNRECORDED = Counter(
    "alarmhub_receiver_rejected_frames_unrecorded_total",
    "Rejections counted in alarmhub_receiver_rejected_frames_total but not written to the rejected_frames table: "
    "a flood of bad input outran the table's writes (its buffer is bounded) or the database was away too long.",
)
CONNECTIONS = Gauge("alarmhub_receiver_tcp_connections", "Open DC-09 TCP connections.")
PENDING = Gauge("alarmhub_receiver_pending_signals", "Signals waiting for the database.")
MQTT = MqttGauges()


def count_frame(transport: str, answer: str) -> None:
    FRAMES.inc((transport, answer))


def count_deviations(deviations: tuple[str, ...]) -> None:
    for deviation in deviations:
        TOLERATED.inc((deviation,))


def count_stored(transport: str, signals: int) -> None:
    SIGNALS_STORED.inc((transport,), signals)


@asynccontextmanager
async def metrics_server(
    listen: tuple[str, int] | None, health: Callable[[], Mapping[str, str]] | None = None
) -> AsyncIterator[str | None]:
    """Serve GET /metrics for a standalone receiver on `listen` (HOST, PORT), and GET /healthz when `health` gives
    its report (receiver/health.py); yields the /metrics URL, or None when off."""
    if listen is None:
        yield None
        return

    async def healthz(_: web.Request) -> web.Response:
        assert health is not None
        return health_response(health())

    routes: dict[str, Handler] = {"/metrics": serve_metrics}
    if health is not None:
        routes["/healthz"] = healthz
    async with small_server(listen, routes) as url:
        yield f"{url}/metrics"
