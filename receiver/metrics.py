"""The receiver's Prometheus metrics (SPEC X3): frames by outcome, rejections by reason, batches, ACK latency."""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, Counter, Gauge, Histogram, generate_latest

FRAMES = Counter("alarmhub_receiver_frames_total", "Frames received, by transport and answer.", ["transport", "answer"])
SIGNALS_STORED = Counter("alarmhub_receiver_signals_total", "Signals (events) committed, by transport.", ["transport"])
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
ACK_LATENCY = Histogram(
    "alarmhub_receiver_ack_latency_seconds",
    "From a frame's arrival to its ACK.",
    buckets=(0.001, 0.002, 0.005, 0.01, 0.015, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
)
CONNECTIONS = Gauge("alarmhub_receiver_tcp_connections", "Open DC-09 TCP connections.")
PENDING = Gauge("alarmhub_receiver_pending_signals", "Signals waiting for the database.")


@functools.cache
def frames(transport: str, answer: str) -> Counter:
    """The labelled child for one transport and answer, looked up once (labels() costs a lock and a dict)."""
    return FRAMES.labels(transport, answer)


@functools.cache
def signals_stored(transport: str) -> Counter:
    return SIGNALS_STORED.labels(transport)


@asynccontextmanager
async def metrics_server(listen: tuple[str, int] | None) -> AsyncIterator[str | None]:
    """Serve GET /metrics for a standalone receiver on `listen` (HOST, PORT); yields its URL, or None when off."""
    if listen is None:
        yield None
        return

    async def metrics(_: web.Request) -> web.Response:
        response = web.Response(body=generate_latest(REGISTRY))
        response.content_type = CONTENT_TYPE_LATEST.split(";")[0]
        return response

    app = web.Application()
    app.router.add_get("/metrics", metrics)
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    try:
        await web.TCPSite(runner, *listen).start()
        yield f"http://{listen[0]}:{listen[1]}/metrics"
    finally:
        await runner.cleanup()
