"""Enrolment of what a panel is monitored for, in the admin forms: "Monitored for" boxes, stored on the panel,
ticked again when the form comes back with an error, an unknown value refused by its field."""

from __future__ import annotations

import asyncpg
from aiohttp import ClientResponse

from shared.enrolment import MONITORED_SERVICES
from tests.portal.conftest import Customer, Portal


async def post_pairs(portal: Portal, path: str, pairs: list[tuple[str, str]]) -> ClientResponse:
    """A form with repeated fields (ticked boxes), as a browser sends it."""
    response = await portal.client.post(path, data=[*pairs, ("csrf_token", portal.csrf)])
    await response.text()
    return response


def ticked(page: str) -> set[str]:
    return {value for value in MONITORED_SERVICES if f'name="monitored_services" value="{value}" checked' in page}


async def test_a_customer_is_enrolled_with_the_services_ticked(
    portal: Portal, db: asyncpg.Pool, customers: tuple[Customer, Customer]
) -> None:
    await portal.login("admin@example.com")
    page = await (await portal.get("/admin/customers/new")).text()
    assert "Monitored for" in page
    for value, label in MONITORED_SERVICES.items():
        assert f'value="{value}"> {label}</label>' in page, value

    form = [
        ("name", "Delta Diner"),
        ("email", "delta@example.com"),
        ("account", "DE17A"),
        ("address", "4 Main Street"),
        ("security_code", "5511"),
        ("test_interval_hours", "24"),
        ("monitored_services", "fire"),
        ("monitored_services", "burglary"),
    ]
    bad = await post_pairs(portal, "/admin/customers", [*form, ("monitored_services", "unicorn")])
    text = await bad.text()
    assert bad.status == 400 and 'id="f-monitored_services-error"' in text and "unicorn" in text
    assert ticked(text) == {"fire", "burglary"}  # the boxes stay ticked while the error is fixed
    assert await db.fetchval("SELECT count(*) FROM customers WHERE name = 'Delta Diner'") == 0

    created = await post_pairs(portal, "/admin/customers", form)
    assert created.url.path.startswith("/staff/customers/")
    services = await db.fetchval("SELECT monitored_services FROM panels WHERE account = 'DE17A'")
    assert services == ["burglary", "fire"]


async def test_a_panel_added_to_premises_is_enrolled_with_its_services(
    portal: Portal, db: asyncpg.Pool, customers: tuple[Customer, Customer]
) -> None:
    alpha, _ = customers
    await portal.login("admin@example.com")
    record = await (await portal.get(f"/staff/customers/{alpha.customer_id}")).text()
    assert 'name="monitored_services" value="medical"' in record  # the add-a-panel form has the boxes
    panel = [("site_id", str(alpha.site_id)), ("account", "AB12CD"), ("test_interval_hours", "24")]
    base = f"/admin/customers/{alpha.customer_id}/panels"
    refused = await post_pairs(portal, base, [*panel, ("monitored_services", "water"), ("monitored_services", "x")])
    assert refused.status == 400 and ticked(await refused.text()) == {"water"}
    added = await post_pairs(portal, base, [*panel, ("monitored_services", "water"), ("monitored_services", "co")])
    assert "Panel added" in await added.text()
    assert await db.fetchval("SELECT monitored_services FROM panels WHERE account = 'AB12CD'") == ["co", "water"]
