"""Admin pages: enrol a customer, add premises and panels, create staff logins, read the outbox."""

from __future__ import annotations

import asyncpg

from tests.portal.conftest import PASSWORD, Customer, Portal

KEY = "00112233445566778899AABBCCDDEEFF"


async def test_an_admin_enrols_a_customer_who_then_registers_with_the_security_code(
    portal: Portal, other_portal: Portal, db: asyncpg.Pool, customers: tuple[Customer, Customer]
) -> None:
    await portal.login("admin@example.com")
    form = {
        "name": "Gamma Garage",
        "email": "gamma@example.com",
        "phone": "+1 555 0199",
        "security_code": "7788",
        "address": "7 Gamma Road",
        "account": "c0ffee",
        "dc09_key": KEY,
        "dc09_key_format": "hex",
        "test_interval_hours": "0.5",
    }
    bad = await portal.post("/admin/customers", {**form, "dc09_key": "123"})
    text = await bad.text()
    assert bad.status == 400 and 'id="f-dc09_key-error"' in text and "32, 48 or 64 digits" in text
    assert 'value="Gamma Garage"' in text and 'value="7788"' not in text
    created = await portal.post("/admin/customers", form)
    assert created.url.path.startswith("/staff/customers/")
    page = await created.text()
    assert "Gamma Garage" in page and "C0FFEE" in page and "AES key (hex)" in page and "every 0.5 h" in page
    panel = await db.fetchrow("SELECT dc09_key, test_interval FROM panels WHERE account = 'C0FFEE'")
    assert panel["dc09_key"] == bytes.fromhex(KEY) and panel["test_interval"].total_seconds() == 1800
    duplicate = await portal.post("/admin/customers", {**form, "email": "other@example.com"})
    assert duplicate.status == 409

    registered = await other_portal.post(
        "/register",
        {
            "account": "C0FFEE",
            "proof": "7788",
            "name": "Gus Gamma",
            "email": "gus@example.com",
            "password": PASSWORD,
            "password_confirm": PASSWORD,
        },
    )
    assert registered.url.path == "/dashboard" and "Gamma Garage" in await registered.text()


async def test_an_admin_adds_premises_and_panels(
    portal: Portal, db: asyncpg.Pool, customers: tuple[Customer, Customer]
) -> None:
    alpha, beta = customers
    await portal.login("admin@example.com")
    base = f"/admin/customers/{alpha.customer_id}"
    missing = await portal.post(f"{base}/sites", {"site_name": "Barn", "address": ""})
    assert missing.status == 400 and 'id="f-address-error"' in await missing.text()
    added = await portal.post(f"{base}/sites", {"site_name": "Barn", "address": "2 Field Lane"})
    assert "Premises added" in await added.text()
    site_id = await db.fetchval("SELECT id FROM sites WHERE address = '2 Field Lane'")
    panel = {"site_id": str(site_id), "account": "ab12cd", "dc09_key": "AjaxKey-16-chars", "dc09_key_format": "ascii"}
    added = await portal.post(f"{base}/panels", {**panel, "test_interval_hours": "24"})
    assert "Panel added" in await added.text() and "AB12CD" in await added.text()
    assert await db.fetchval("SELECT dc09_key FROM panels WHERE account = 'AB12CD'") == b"AjaxKey-16-chars"
    # Another customer's premises cannot receive this customer's panel.
    foreign = await portal.post(
        f"{base}/panels", {**panel, "site_id": str(beta.site_id), "account": "AB12CE", "test_interval_hours": "24"}
    )
    assert foreign.status == 404
    interval = await portal.post(f"{base}/panels", {**panel, "account": "AB12CF", "test_interval_hours": "0"})
    assert interval.status == 400 and 'id="f-test_interval_hours-error"' in await interval.text()
    # A panel that polls the receiver gets its link supervision, which the supervision job fails it by sooner.
    for bad in ("5", "nan", "soon", "inf"):
        refused = await portal.post(
            f"{base}/panels",
            {**panel, "account": "AB12D0", "test_interval_hours": "24", "link_supervision_seconds": bad},
        )
        assert refused.status == 400 and 'id="f-link_supervision_seconds-error"' in await refused.text(), bad
    polled = await portal.post(
        f"{base}/panels", {**panel, "account": "AB12D0", "test_interval_hours": "24", "link_supervision_seconds": "90"}
    )
    assert "Panel added" in await polled.text()
    intervals = await db.fetch(
        "SELECT account, extract(epoch FROM supervision_interval) AS seconds FROM panels WHERE account LIKE 'AB12%'"
    )
    assert {row["account"]: row["seconds"] for row in intervals} == {"AB12CD": None, "AB12D0": 90}


async def test_an_admin_creates_staff_users_and_reads_the_outbox(
    portal: Portal, other_portal: Portal, customers: tuple[Customer, Customer]
) -> None:
    alpha, _ = customers
    await portal.login("admin@example.com")
    weak = await portal.post("/admin/staff", {"email": "d2@example.com", "role": "dispatcher", "password": "short"})
    assert weak.status == 400 and 'id="f-password-error"' in await weak.text()
    made = await portal.post("/admin/staff", {"email": "d2@example.com", "role": "dispatcher", "password": PASSWORD})
    assert "d2@example.com can now log in as dispatcher" in await made.text()
    assert (await other_portal.login("d2@example.com")).url.path == "/staff"

    await other_portal.post("/password/forgot", {"email": alpha.owner_email})
    outbox = await (await portal.get("/admin/outbox")).text()
    assert alpha.owner_email in outbox and "Complete your request" in outbox
    assert "/password/reset/" in outbox  # no SMTP configured: the admin can read the mail and its link


async def test_the_staff_directory_finds_customers(portal: Portal, customers: tuple[Customer, Customer]) -> None:
    alpha, _ = customers
    await portal.login("dispatcher@example.com")
    everyone = await (await portal.get("/staff")).text()
    assert "Customer alpha" in everyone and "Customer beta" in everyone
    found = await (await portal.get("/staff?q=b2b2")).text()
    assert "Customer beta" in found and "Customer alpha" not in found
    none = await (await portal.get("/staff?q=100%25_")).text()
    assert "No customer matches" in none
    detail = await (await portal.get(f"/staff/customers/{alpha.customer_id}")).text()
    assert "Burglary alarm at Alpha" in detail and "Add a panel" not in detail  # dispatchers do not enrol
    assert (await portal.get("/staff/customers/999999")).status == 404
    assert (await portal.get("/staff/customers/abc")).status == 404


async def test_admin_forms_enter_single_line_names_and_keep_their_input_limits(
    portal: Portal, db: asyncpg.Pool, customers: tuple[Customer, Customer]
) -> None:
    await portal.login("admin@example.com")
    page = await (await portal.get("/admin/customers/new")).text()
    assert 'min="0.0167" max="744" step="any"' in page  # attributes, not escaped text
    form = {"name": "Gamma\r\nGarage", "email": "gamma@example.com", "account": "C0FFEE", "address": "7 Road"}
    refused = await portal.post("/admin/customers", form)
    assert refused.status == 400 and 'id="f-name-error"' in await refused.text()
    assert await db.fetchval("SELECT count(*) FROM customers WHERE email = 'gamma@example.com'") == 0
