"""Two portal instances over one database (SPEC §8): a session begun on one works on the other, and ends on both."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest_asyncio
from aiohttp.test_utils import TestClient, TestServer

from portal.app import create_app
from shared.config import Config
from tests.portal.conftest import Customer, Portal


@pytest_asyncio.fixture
async def second_instance(config: Config, database_url: str) -> AsyncIterator[TestClient[Any, Any]]:
    """Another process's portal: its own app, pool and port, the same configuration (session key) and database."""
    async with TestClient(TestServer(create_app(config, database_url))) as client:
        yield client


async def test_a_login_on_one_instance_is_honoured_and_ended_on_the_other(
    portal: Portal, second_instance: TestClient[Any, Any], customers: tuple[Customer, Customer]
) -> None:
    customer, _ = customers
    await portal.login(customer.owner_email)
    other = Portal(second_instance)  # the load balancer sends the next requests elsewhere, with the same cookie
    other.client.session.cookie_jar.update_cookies(
        portal.client.session.cookie_jar.filter_cookies(portal.client.make_url("/"))
    )
    dashboard = await other.get("/dashboard", allow_redirects=False)
    assert dashboard.status == 200
    assert customer.account in await dashboard.text()

    await other.logout()
    after = await portal.get("/dashboard", allow_redirects=False)
    assert after.status in (302, 303) and "/login" in after.headers["Location"]
