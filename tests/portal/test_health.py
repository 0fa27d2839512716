"""GET /healthz answers for the database."""

from __future__ import annotations

from aiohttp.test_utils import TestClient, TestServer

from portal.app import create_app
from portal.keys import pool_key
from shared.config import load_config


async def test_healthz_reports_the_database(database_url: str) -> None:
    app = create_app(load_config(None, environ={}), database_url)
    async with TestClient(TestServer(app)) as client:
        response = await client.get("/healthz")
        assert response.status == 200
        assert await response.json() == {"database": "ok"}
        await app[pool_key].close()  # the database goes away under the running portal
        response = await client.get("/healthz")
        assert response.status == 503
        assert await response.json() == {"database": "unavailable"}
