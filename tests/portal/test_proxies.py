"""Behind a reverse proxy: the client's address comes from X-Forwarded-For, but only when a trusted proxy says so."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import asyncpg
from aiohttp.test_utils import TestClient, TestServer

from portal.app import create_app
from tests.portal.conftest import PASSWORD, Customer, Portal, portal_config


async def login_from(portal: Portal, email: str, password: str, forwarded_for: str) -> int:
    headers = {"X-Forwarded-For": forwarded_for}
    await portal.get("/login", headers=headers)
    form = {"email": email, "password": password, "csrf_token": portal.csrf}
    return (await portal.client.post("/login", data=form, headers=headers, allow_redirects=False)).status


def proxied_app(database_url: str, tmp_path: Path, **overrides: Any) -> TestServer:
    return TestServer(
        create_app(portal_config(tmp_path, portal__trusted_proxies="127.0.0.0/8", **overrides), database_url)
    )


async def test_the_address_throttle_counts_each_client_behind_a_trusted_proxy(
    database_url: str, tmp_path: Path, db: asyncpg.Pool, customers: tuple[Customer, Customer]
) -> None:
    alpha, _ = customers
    async with TestClient(proxied_app(database_url, tmp_path)) as client:
        portal = Portal(client)
        for number in range(20):  # one client guesses at many accounts...
            assert await login_from(portal, f"user{number}@example.com", "guess", "203.0.113.5") == 400
        assert await login_from(portal, alpha.owner_email, PASSWORD, "203.0.113.5") == 429
        # ...and another customer behind the same proxy still gets in
        assert await login_from(portal, alpha.owner_email, PASSWORD, "198.51.100.7") == 303
    subjects = {r["subject"] for r in await db.fetch("SELECT subject FROM auth_failures WHERE scope = 'address'")}
    assert subjects == {"203.0.113.5"}


async def test_metrics_stay_hidden_from_clients_that_a_local_proxy_forwards(database_url: str, tmp_path: Path) -> None:
    async with TestClient(proxied_app(database_url, tmp_path)) as client:
        assert (await client.get("/metrics", headers={"X-Forwarded-For": "203.0.113.5"})).status == 404
        # The client writes what it likes on the left; only the hop the proxy appended counts.
        spoofed = {"X-Forwarded-For": "127.0.0.1, 203.0.113.5"}
        assert (await client.get("/metrics", headers=spoofed)).status == 404
        assert (await client.get("/metrics", headers={"X-Forwarded-For": "203.0.113.5, 127.0.0.2"})).status == 404
        assert (await client.get("/metrics")).status == 200  # the proxy's own host, with no client named


async def test_forwarded_for_is_ignored_from_untrusted_peers(database_url: str, tmp_path: Path) -> None:
    config = portal_config(tmp_path, portal__metrics_allow="10.0.0.0/8")
    async with TestClient(TestServer(create_app(config, database_url))) as client:
        assert (await client.get("/metrics", headers={"X-Forwarded-For": "10.1.2.3"})).status == 404
