"""Customer scoping: every route, requested as another customer's user with this customer's ids, shows no data."""

from __future__ import annotations

import asyncpg

from portal.auth.access import Access, rule_of
from tests.portal.conftest import Customer, Portal
from tests.portal.test_security import fill

PLAUSIBLE_FORM = {
    "permissions": "manage_users",
    "name": "Intruder",
    "email": "intruder@example.com",
    "site_id": "0",
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


async def test_every_route_as_another_customers_user_with_this_customers_ids(
    portal: Portal, db: asyncpg.Pool, customers: tuple[Customer, Customer]
) -> None:
    alpha, beta = customers
    before = await snapshot(db, alpha)
    await portal.login(beta.owner_email)
    checked = 0
    for route in portal.client.app.router.routes():
        rule = rule_of(route.handler)
        if route.method == "HEAD" or rule is None or rule.access is Access.PUBLIC:
            continue
        if route.handler.__name__ == "logout":
            continue  # would end the session the rest of the test uses; it has no ids anyway
        path = route.resource.canonical
        url = fill(path, alpha)
        if route.method == "GET":
            response = await portal.get(url)
        else:
            response = await portal.post(url, PLAUSIBLE_FORM)
        text = await response.text()
        if rule.access in (Access.STAFF, Access.ADMIN):
            assert response.status == 403, (route.method, path)
        elif "{" in path:
            assert response.status == 404, (route.method, path)
        for marker in alpha_markers(alpha):
            assert marker not in text, (route.method, path, marker)
        checked += 1
    assert checked >= 15
    assert await snapshot(db, alpha) == before


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
