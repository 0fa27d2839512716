"""Customer scoping: every route, requested as another customer's user with this customer's ids, shows no data."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import urlencode

import asyncpg
import pytest
import pytest_asyncio
from aiohttp import ClientResponse, web
from aiohttp.test_utils import TestClient, TestServer

from portal.app import create_app
from portal.auth.access import Access, Rule, rule_of
from portal.paths import is_id_placeholder
from shared.config import Config
from shared.roles import CUSTOMER_PERMISSIONS
from tests.portal.conftest import Customer, Portal
from tests.portal.sweep import HandlerRecorder, fill, route_ids

ALL_GRANTS = sorted(p.value for p in CUSTOMER_PERMISSIONS)

PLAUSIBLE_FORM = {
    "permissions": "manage_users",
    "name": "Intruder",
    "email": "intruder@example.com",
    "account": "DEAD01",
    "address": "1 Intrusion Road",
    "test_interval_hours": "24",
}


def alpha_markers(alpha: Customer) -> list[str]:
    return ["Customer alpha", "Burglary alarm at Alpha", alpha.owner_email, alpha.secondary_email, "alpha Street"]


async def snapshot(db: asyncpg.Pool, alpha: Customer) -> list[asyncpg.Record]:
    return await db.fetch(
        "SELECT u.id, u.email, u.permissions, u.password_hash, "
        "(SELECT count(*) FROM sites WHERE customer_id = $1) AS sites, "
        "(SELECT count(*) FROM panels p JOIN sites s ON s.id = p.site_id WHERE s.customer_id = $1) AS panels "
        "FROM users u WHERE u.customer_id = $1 ORDER BY u.id",
        alpha.customer_id,
    )


@pytest_asyncio.fixture
async def swept(config: Config, database_url: str) -> AsyncIterator[tuple[Portal, HandlerRecorder]]:
    """A portal whose innermost middleware records which requests reached their handler."""
    app = create_app(config, database_url)
    recorder = HandlerRecorder()
    recorder.install(app)
    async with TestClient(TestServer(app)) as client:
        yield Portal(client), recorder


def swept_routes(app: web.Application) -> list[tuple[str, str, Rule]]:
    """Every route that needs a login, as (method, pattern, rule): the inventory the sweep must cover whole."""
    found = []
    for route in app.router.routes():
        rule = rule_of(route.handler)
        if route.method == "HEAD" or rule is None or rule.access is Access.PUBLIC or route.resource is None:
            continue
        if route.handler.__name__ == "logout":
            continue  # would end the session the rest of the test uses; it has no ids anyway
        found.append((route.method, route.resource.canonical, rule))
    return sorted(found, key=lambda r: (r[1], r[0]))


async def send(portal: Portal, method: str, url: str, ids: dict[str, str]) -> ClientResponse:
    """The request a curious customer would make: the victim's ids in the query string and in the form too."""
    if method == "GET":
        return await portal.get(f"{url}?{urlencode(ids)}")
    form = {**PLAUSIBLE_FORM, **ids, "csrf_token": portal.csrf}
    return await portal.client.request(method, url, data=form, headers={"X-CSRF-Token": portal.csrf})


@pytest.mark.parametrize("attacker", ["owner", "secondary with every permission"])
async def test_every_route_as_another_customers_user_with_this_customers_ids(
    swept: tuple[Portal, HandlerRecorder], db: asyncpg.Pool, customers: tuple[Customer, Customer], attacker: str
) -> None:
    portal, recorder = swept
    alpha, beta = customers
    async with db.acquire() as connection:
        ids = await route_ids(connection, alpha)
        await connection.execute("UPDATE users SET permissions = $2 WHERE id = $1", beta.secondary_id, ALL_GRANTS)
    before = await snapshot(db, alpha)
    await portal.login(beta.owner_email if attacker == "owner" else beta.secondary_email)
    routes = swept_routes(portal.client.app)
    tried = set()
    for method, path, rule in routes:
        url = fill(path, ids)  # fails the test for a placeholder it has no real id for
        recorder.reached.clear()
        # Alpha's ids go everywhere a handler might read one: the path, the query string and the form.
        response = await send(portal, method, url, ids)
        text = await response.text()
        reached = (method, path) in recorder.reached
        if path.startswith("/api/"):
            assert response.status == 401 and not reached, (method, path, response.status)  # cookies mean nothing
        elif rule.access in (Access.STAFF, Access.ADMIN):
            assert response.status == 403 and not reached, (method, path, response.status)
        else:
            # The handler itself ran (a router 404 or 405 proves nothing) and did not fail.
            assert reached and response.status < 500 and response.status != 405, (method, path, response.status)
            if "{" in path:  # it was given alpha's real ids, and did not find them in beta's scope
                assert response.status == 404, (method, path, response.status)
        for marker in alpha_markers(alpha):
            assert marker not in text, (method, path, marker)
        tried.add((method, path))
    assert tried == {(m, p) for m, p, _ in routes} and len(tried) >= 15
    assert await snapshot(db, alpha) == before


# Placeholders that are not database ids, each checked by its own handler: a token (hashed and looked up) and a
# panel account number (normalised as hex). Any other placeholder must be named `…_id`, so portal/paths.py parses it.
NON_ID_PLACEHOLDERS = {"token", "account", "code"}


def placeholders(path: str) -> set[str]:
    return {part.split(":")[0] for part in re.findall(r"\{([^}]+)\}", path)}


def test_every_path_placeholder_is_an_id_or_checked_by_name(app_client: TestClient[Any, Any]) -> None:
    for route in app_client.app.router.routes():
        if route.resource is None or isinstance(route.resource, web.StaticResource):
            continue
        for name in placeholders(route.resource.canonical):
            assert is_id_placeholder(name) or name in NON_ID_PLACEHOLDERS, (route.resource.canonical, name)


async def test_ids_out_of_any_range_are_simply_not_found(
    swept: tuple[Portal, HandlerRecorder], customers: tuple[Customer, Customer]
) -> None:
    portal, recorder = swept
    alpha, _ = customers
    odd = {"account": alpha.account, "token": "x"}
    tried = 0
    for who in (alpha.owner_email, "admin@example.com"):
        await portal.login(who)
        for method, path, _rule in swept_routes(portal.client.app):
            ids = {name for name in placeholders(path) if is_id_placeholder(name)}
            if not ids:
                continue
            for bad in ("99999999999999999999", "0", "-1", "1e3", "١٢", "00"):
                recorder.reached.clear()
                url = fill(path, {**odd, **dict.fromkeys(ids, bad)})
                response = await send(portal, method, url, {})
                # Under /api/ a cookie authenticates nobody: 401 before the id is even read.
                refusals = (401,) if path.startswith("/api/") else (403, 404)
                assert response.status in refusals, (who, method, url, response.status)
                assert (method, path) not in recorder.reached, (who, method, url)  # refused before any handler
                tried += 1
        await portal.logout()
    assert tried >= 20


async def test_the_dashboard_shows_only_the_viewers_customer(
    portal: Portal, customers: tuple[Customer, Customer]
) -> None:
    alpha, beta = customers
    await portal.login(beta.secondary_email)
    text = await (await portal.get("/dashboard")).text()
    assert "Fire alarm at Beta" in text and "Customer beta" in text
    for marker in alpha_markers(alpha):
        assert marker not in text


async def test_customers_cannot_reach_staff_pages_and_dispatchers_cannot_reach_admin_pages(
    portal: Portal, customers: tuple[Customer, Customer]
) -> None:
    alpha, _ = customers
    await portal.login(alpha.owner_email)
    for path in ("/staff", f"/staff/customers/{alpha.customer_id}", "/admin/outbox", "/admin/staff"):
        assert (await portal.get(path)).status == 403
    await portal.logout()
    await portal.login("dispatcher@example.com")
    assert (await portal.get(f"/staff/customers/{alpha.customer_id}")).status == 200
    for path in ("/admin/outbox", "/admin/staff", "/admin/customers/new"):
        assert (await portal.get(path)).status == 403
    assert (await portal.get("/dashboard")).status == 403  # staff have no customer scope


async def test_visitors_are_sent_to_log_in(portal: Portal, customers: tuple[Customer, Customer]) -> None:
    alpha, _ = customers
    for path in ("/dashboard", "/users", "/account", "/staff", f"/staff/customers/{alpha.customer_id}"):
        response = await portal.get(path)
        assert response.url.path == "/login", path
