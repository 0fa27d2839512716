"""The receiver's metrics: plain per-frame counts the registry reads at scrape time, and its /metrics server."""

from __future__ import annotations

import asyncio
import json
import urllib.request

from prometheus_client import CollectorRegistry, generate_latest

from receiver.metrics import HotCounter, HotHistogram, metrics_server
from tests.conftest import free_port
from tests.shared.test_http_server import raw_exchange, status_of
from tests.shared.test_logs import json_logs


def exposition(*collectors: object) -> list[str]:
    registry = CollectorRegistry()
    for collector in collectors:
        registry.register(collector)  # type: ignore[arg-type]
    return generate_latest(registry).decode().splitlines()


def test_a_hot_counter_is_exposed_per_label_set() -> None:
    counter = HotCounter("t_frames_total", "Frames.", ("transport", "answer"), registry=None)
    counter.inc(("tcp", "ack"))
    counter.inc(("tcp", "ack"), 2)
    counter.inc(("udp", "nak"))
    lines = exposition(counter)
    assert 't_frames_total{answer="ack",transport="tcp"} 3.0' in lines
    assert 't_frames_total{answer="nak",transport="udp"} 1.0' in lines


def test_a_hot_histogram_has_cumulative_buckets_a_count_and_a_sum() -> None:
    histogram = HotHistogram("t_latency_seconds", "Latency.", (0.001, 0.01, 1), registry=None)
    for value in (0.0005, 0.001, 0.005, 0.5, 3.0):  # a value equal to a bound falls in that bucket (le)
        histogram.observe(value)
    lines = exposition(histogram)
    assert 't_latency_seconds_bucket{le="0.001"} 2.0' in lines
    assert 't_latency_seconds_bucket{le="0.01"} 3.0' in lines
    assert 't_latency_seconds_bucket{le="1.0"} 4.0' in lines
    assert 't_latency_seconds_bucket{le="+Inf"} 5.0' in lines
    assert "t_latency_seconds_count 5.0" in lines
    assert "t_latency_seconds_sum 3.5065" in lines


async def test_the_standalone_metrics_server_refuses_a_malformed_request_without_a_traceback() -> None:
    port = free_port()
    with json_logs() as stream:
        async with metrics_server(("127.0.0.1", port)) as url:
            assert url is not None
            answer = await raw_exchange("127.0.0.1", port, b"GET /metrics?" + b"a" * 8200 + b" HTTP/1.1\r\n\r\n")
            scraped = await asyncio.to_thread(lambda: urllib.request.urlopen(url, timeout=5))
            assert scraped.status == 200 and scraped.headers["Content-Type"] == "text/plain"
    assert status_of(answer) == 400
    logged = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert [(line["event"], line["level"]) for line in logged] == [("malformed request refused", "info")]
