"""The System test page: the owner puts the premises on test and ends it, a secondary user without TEST_SYSTEM is
refused (403) and sees no form, the grant on the Users page lets them, bad hours are shown by the field, another
customer's premises is not found, CSRF is refused; the dashboard says so while the system is on test."""

from __future__ import annotations

import re
from datetime import timedelta

import asyncpg

from shared.enrolment import add_site
from shared.incidents.system_tests import on_test, start_test
from shared.scope import CustomerScope
from tests.portal.conftest import Customer, Portal


def text_of(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


async def test_the_owner_starts_and_ends_a_test_and_the_opener_predicate_follows(
    portal: Portal, customers: tuple[Customer, Customer], db: asyncpg.Pool
) -> None:
    alpha, beta = customers
    await portal.login(alpha.owner_email)
    html = await (await portal.get("/system-test")).text()
    assert 'aria-current="page">System test</a>' in html and "Not on test" in html
    assert 'for="f-hours">Hours' in html and ">Start test<" in html
    assert 'type="hidden" name="site_id"' in html  # one premises: nothing to choose
    response = await portal.post("/system-test", {"site_id": str(alpha.site_id), "hours": "2"})
    html = await response.text()
    assert response.status == 200 and response.url.path == "/system-test"
    assert "Premises is on test for 2 hours" in html and "On test until" in html and ">End test now" in html
    async with db.acquire() as connection:
        assert await on_test(connection, alpha.site_id) and not await on_test(connection, beta.site_id)
        row = await connection.fetchrow("SELECT * FROM system_tests WHERE site_id = $1", alpha.site_id)
    assert row["requested_by"] == alpha.owner_id and row["ends_at"] - row["starts_at"] == timedelta(hours=2)
    dashboard = text_of(await (await portal.get("/dashboard")).text())
    assert "Your system is on test" in dashboard and "Premises is on test until" in dashboard

    response = await portal.post(f"/system-test/{alpha.site_id}/end")
    html = await response.text()
    assert "The test of Premises has ended" in html and "Not on test" in html
    text = text_of(html)
    assert "Past tests" in text and "early, by Customer alpha" in text
    async with db.acquire() as connection:
        assert not await on_test(connection, alpha.site_id)
    assert "Your system is on test" not in await (await portal.get("/dashboard")).text()
    # Ending again: nothing on test, said on the page.
    response = await portal.post(f"/system-test/{alpha.site_id}/end")
    assert response.status == 404 and "That premises is not on test." in await response.text()


async def test_hours_out_of_range_are_shown_by_the_field(
    portal: Portal, customers: tuple[Customer, Customer], db: asyncpg.Pool
) -> None:
    alpha, _ = customers
    await portal.login(alpha.owner_email)
    for hours in ("0", "73", "two", ""):
        response = await portal.post("/system-test", {"site_id": str(alpha.site_id), "hours": hours})
        html = await response.text()
        assert response.status == 422, hours
        assert 'id="f-hours-error"' in html and 'aria-invalid="true"' in html, hours
    assert await db.fetchval("SELECT count(*) FROM system_tests") == 0


async def test_a_secondary_user_needs_the_permission_and_another_customers_premises_is_not_found(
    portal: Portal, customers: tuple[Customer, Customer], db: asyncpg.Pool
) -> None:
    alpha, beta = customers
    await portal.login(alpha.secondary_email)
    html = await (await portal.get("/system-test")).text()  # they may see whether it is on test
    assert "Not on test" in html and ">Start test<" not in html
    response = await portal.post("/system-test", {"site_id": str(alpha.site_id), "hours": "2"})
    assert response.status == 403
    async with db.acquire() as connection:
        await start_test(connection, CustomerScope(alpha.customer_id, alpha.owner_id), alpha.site_id, 3)
    html = await (await portal.get("/system-test")).text()
    assert "On test until" in html and "End test now" not in html
    assert (await portal.post(f"/system-test/{alpha.site_id}/end")).status == 403
    await portal.logout()

    # The owner grants it on the Users page, where it is offered among the other permissions.
    await portal.login(alpha.owner_email)
    assert "Put the system on test" in await (await portal.get("/users")).text()
    await portal.post(f"/users/{alpha.secondary_id}/permissions", {"permissions": "test_system"})
    await portal.logout()
    await portal.login(alpha.secondary_email)
    response = await portal.post(f"/system-test/{alpha.site_id}/end")
    assert response.status == 200 and "has ended" in await response.text()
    await portal.logout()

    await portal.login(beta.owner_email)
    response = await portal.post("/system-test", {"site_id": str(alpha.site_id), "hours": "2"})
    html = await response.text()
    assert response.status == 404 and "That premises was not found." in html and "Customer alpha" not in html
    assert (await portal.post(f"/system-test/{alpha.site_id}/end")).status == 404
    assert await db.fetchval("SELECT count(*) FROM system_tests WHERE customer_id = $1", beta.customer_id) == 0


async def test_csrf_is_refused(portal: Portal, customers: tuple[Customer, Customer], db: asyncpg.Pool) -> None:
    alpha, _ = customers
    await portal.login(alpha.owner_email)
    response = await portal.post("/system-test", {"site_id": str(alpha.site_id), "hours": "2"}, csrf=False)
    assert response.status == 403
    response = await portal.client.post(
        "/system-test", data={"site_id": str(alpha.site_id), "hours": "2", "csrf_token": "forged"}
    )
    assert response.status == 403
    assert await db.fetchval("SELECT count(*) FROM system_tests") == 0


async def test_with_several_premises_the_owner_chooses_one(
    portal: Portal, customers: tuple[Customer, Customer], db: asyncpg.Pool
) -> None:
    alpha, _ = customers
    async with db.acquire() as connection:
        shop = await add_site(connection, customer_id=alpha.customer_id, name="Corner Shop", address="2 Oak St")
    await portal.login(alpha.owner_email)
    html = await (await portal.get("/system-test")).text()
    assert 'for="f-site_id">Premises' in html and f'<option value="{shop}">Corner Shop</option>' in html
    html = await (await portal.post("/system-test", {"site_id": str(shop), "hours": "5"})).text()
    assert "Corner Shop is on test for 5 hours" in html and html.count(">End test now") == 1
    async with db.acquire() as connection:
        assert await on_test(connection, shop) and not await on_test(connection, alpha.site_id)
