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


async def test_an_admin_sets_what_an_older_panel_is_monitored_for_so_its_premises_can_be_certified(
    portal: Portal, other_portal: Portal, db: asyncpg.Pool, customers: tuple[Customer, Customer]
) -> None:
    """A panel enrolled before "Monitored for" was asked has nothing on file: the certificate is refused with "call
    us … so we can add it", and on the customer's record an admin adds it, panel by panel."""
    alpha, beta = customers
    await other_portal.login(alpha.owner_email)
    await other_portal.get("/service/certificates")
    refused = await other_portal.post("/service/certificates", {"site_id": str(alpha.site_id)})
    assert refused.status == 400 and "so we can add it" in await refused.text()

    await portal.login("admin@example.com")
    record = await (await portal.get(f"/staff/customers/{alpha.customer_id}")).text()
    action = f"/admin/customers/{alpha.customer_id}/panels/{alpha.panel_id}/services"
    form = record[record.index(f'action="{action}"') :]
    form = form[: form.index("</form>")]
    assert "Monitored for" in form and "csrf_token" in form and ">Save<" in form and ticked(form) == set()

    # An unknown value (no box says it): said next to this panel's boxes, nothing changes.
    bad = await post_pairs(portal, action, [("monitored_services", "fire"), ("monitored_services", "unicorn")])
    text = await bad.text()
    assert bad.status == 400 and f'id="f-monitored_services_{alpha.panel_id}-error"' in text and "unicorn" in text
    assert await db.fetchval("SELECT monitored_services FROM panels WHERE id = $1", alpha.panel_id) == []
    # Another customer's panel under this customer's record, or this panel under another's: not found.
    for wrong in (
        f"/admin/customers/{alpha.customer_id}/panels/{beta.panel_id}/services",
        f"/admin/customers/{beta.customer_id}/panels/{alpha.panel_id}/services",
    ):
        assert (await post_pairs(portal, wrong, [("monitored_services", "water")])).status == 404, wrong
    assert await db.fetchval("SELECT monitored_services FROM panels WHERE id = $1", beta.panel_id) == []
    # Without the form's CSRF token: refused.
    forged = await portal.client.post(action, data=[("monitored_services", "water")])
    assert forged.status == 403

    saved = await post_pairs(portal, action, [("monitored_services", "fire"), ("monitored_services", "burglary")])
    assert saved.url.path == f"/staff/customers/{alpha.customer_id}"
    page = await saved.text()
    assert f"Panel {alpha.account} is monitored for: Burglary, Fire." in page
    form = page[page.index(f'action="{action}"') :]
    assert ticked(form[: form.index("</form>")]) == {"burglary", "fire"}
    assert await db.fetchval("SELECT monitored_services FROM panels WHERE id = $1", alpha.panel_id) == [
        "burglary",
        "fire",
    ]

    await other_portal.get("/service/certificates")
    issued = await other_portal.post("/service/certificates", {"site_id": str(alpha.site_id)})
    assert issued.status == 200 and "is ready" in await issued.text()

    # Dispatchers read it on the record and cannot change it.
    await portal.logout()
    await portal.login("dispatcher@example.com")
    record = await (await portal.get(f"/staff/customers/{alpha.customer_id}")).text()
    assert "Monitored for: Burglary, Fire" in record and action not in record
    assert (await post_pairs(portal, action, [("monitored_services", "water")])).status == 403

    # An empty form clears it.
    await portal.logout()
    await portal.login("admin@example.com")
    await portal.get(f"/staff/customers/{alpha.customer_id}")
    cleared = await post_pairs(portal, action, [])
    assert "is monitored for: nothing (cleared)" in await cleared.text()
    assert await db.fetchval("SELECT monitored_services FROM panels WHERE id = $1", alpha.panel_id) == []
