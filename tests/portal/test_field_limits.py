"""Long input is refused next to its field (never stored to stretch every table), and forms say the limit."""

from __future__ import annotations

import asyncpg

from tests.portal.conftest import Customer, Portal


async def test_a_five_thousand_character_name_is_refused_next_to_the_field(
    portal: Portal, db: asyncpg.Pool, customers: tuple[Customer, Customer]
) -> None:
    alpha, _ = customers
    await portal.login(alpha.owner_email)
    page = await (await portal.get("/users")).text()
    assert 'name="name" type="text" value="" autocomplete="off" maxlength="120"' in page
    response = await portal.post("/users/invite", {"name": "N" * 5000, "email": "new@example.com"})
    text = await response.text()
    assert response.status == 400
    assert '<p class="field__error" id="f-name-error">Use at most 120 characters (this has 5000)</p>' in text
    long_local = "x" * 65 + "@example.com"
    response = await portal.post("/users/invite", {"name": "New person", "email": long_local})
    assert response.status == 400 and 'id="f-email-error">The part before the @ has at most 64' in await response.text()
    assert await db.fetchval("SELECT count(*) FROM users WHERE email IN ('new@example.com', $1)", long_local) == 0


async def test_admins_cannot_enrol_a_customer_with_an_endless_address(
    portal: Portal, db: asyncpg.Pool, customers: tuple[Customer, Customer]
) -> None:
    await portal.login("admin@example.com")
    await portal.get("/admin/customers/new")
    form = {
        "name": "Long Address Ltd",
        "email": "long@example.com",
        "security_code": "1234",
        "address": "A" * 301,
        "account": "ABC123",
        "test_interval_hours": "24",
    }
    response = await portal.post("/admin/customers", form)
    assert response.status == 400 and 'id="f-address-error">Use at most 300 characters' in await response.text()
    assert await db.fetchval("SELECT count(*) FROM customers WHERE name = 'Long Address Ltd'") == 0


async def test_an_id_in_a_form_outside_any_range_is_a_field_error_not_a_server_error(
    portal: Portal, customers: tuple[Customer, Customer]
) -> None:
    alpha, _ = customers
    await portal.login("admin@example.com")
    await portal.get(f"/staff/customers/{alpha.customer_id}")
    form = {"site_id": "99999999999999999999", "account": "ABC999", "test_interval_hours": "24"}
    response = await portal.post(f"/admin/customers/{alpha.customer_id}/panels", form)
    assert response.status == 400 and 'id="f-site_id-error">Choose the premises' in await response.text()
