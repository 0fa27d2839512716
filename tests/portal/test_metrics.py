"""GET /metrics: Prometheus text for allowed scrapers only, with the portal's request latency in it."""

from __future__ import annotations

from pathlib import Path

from aiohttp.test_utils import TestClient, TestServer

import receiver.metrics  # noqa: F401 - declares the receiver's metrics, as `alarmhub run` does
from portal.app import create_app
from tests.portal.conftest import portal_config


async def test_metrics_are_served_to_loopback_with_request_latency(database_url: str, tmp_path: Path) -> None:
    app = create_app(portal_config(tmp_path), database_url)
    async with TestClient(TestServer(app)) as client:
        assert (await client.get("/healthz")).status == 200
        response = await client.get("/metrics")
        assert response.status == 200
        assert response.content_type == "text/plain"
        text = await response.text()
    assert 'alarmhub_http_request_duration_seconds_count{route="healthz",status="2xx"}' in text
    assert "alarmhub_receiver_frames_total" in text  # the receiver's metrics are declared in the same registry


async def test_metrics_are_hidden_from_other_addresses(database_url: str, tmp_path: Path) -> None:
    app = create_app(portal_config(tmp_path, portal__metrics_allow="10.0.0.0/8"), database_url)
    async with TestClient(TestServer(app)) as client:
        response = await client.get("/metrics")
        assert response.status == 404
        assert "alarmhub_" not in await response.text()
