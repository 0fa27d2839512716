"""Users (C8): invitations by e-mail, permissions for secondary users, removal that ends their sessions."""

from __future__ import annotations

import asyncio
from pathlib import Path

import asyncpg
from aiohttp.test_utils import TestClient, TestServer

from portal.app import create_app
from tests.portal.conftest import PASSWORD, Customer, Portal, link_in, mails_to, portal_config


async def invite(portal: Portal, name: str, email: str, *permissions: str):
    data: dict[str, object] = {"name": name, "email": email}
    if permissions:
        data["permissions"] = list(permissions)
    return await portal.post("/users/invite", data)


async def test_the_owner_invites_a_user_who_sets_a_password_through_the_link(
    portal: Portal, other_portal: Portal, db: asyncpg.Pool, customers: tuple[Customer, Customer]
) -> None:
    alpha, _ = customers
    await portal.login(alpha.owner_email)
    page = await (await portal.get("/users")).text()
    assert alpha.secondary_email in page and "Manage users" in page
    assert 'value="manage_payment_methods"' in page  # the Billing Center's grant is offered too
    invited = await invite(portal, "Carol", "carol@example.com")
    assert invited.url.path == "/users" and "We sent Carol an invitation" in await invited.text()
    assert "invited" in await (await portal.get("/users")).text()
    [mail] = await mails_to(db, "carol@example.com")
    assert "invited you" in mail["subject"] and "Customer alpha" in mail["body"]

    link = link_in(mail["body"])
    page = await other_portal.get(link)
    assert "carol@example.com" in await page.text()
    weak = await other_portal.post(link, {"name": "Carol", "password": "carol", "password_confirm": "carol"})
    assert weak.status == 422
    accepted = await other_portal.post(link, {"name": "Carol C", "password": PASSWORD, "password_confirm": PASSWORD})
    assert accepted.url.path == "/dashboard" and "Customer alpha" in await accepted.text()
    assert (await other_portal.get(link)).status == 404  # single use
    assert (await other_portal.get("/users")).status == 403  # a secondary user may not manage users by default
    nav = await (await other_portal.get("/dashboard")).text()
    assert 'href="/users"' not in nav
    row = await db.fetchrow("SELECT role, name, email_confirmed_at FROM users WHERE email = 'carol@example.com'")
    assert row["role"] == "secondary" and row["name"] == "Carol C" and row["email_confirmed_at"] is not None


async def test_inviting_checks_the_address_and_refuses_one_that_has_a_login(
    portal: Portal, customers: tuple[Customer, Customer]
) -> None:
    alpha, beta = customers
    await portal.login(alpha.owner_email)
    bad = await invite(portal, "X", "not-an-address")
    assert bad.status == 400 and 'id="f-email-error"' in await bad.text()
    taken = await invite(portal, "Beta's owner", beta.owner_email)
    assert taken.status == 409 and "already has a login" in await taken.text()
    nameless = await invite(portal, "", "someone@example.com")
    assert 'id="f-name-error"' in await nameless.text()


async def test_permissions_let_a_secondary_user_manage_users_but_only_grant_what_they_hold(
    portal: Portal, other_portal: Portal, db: asyncpg.Pool, customers: tuple[Customer, Customer]
) -> None:
    alpha, _ = customers
    await portal.login(alpha.owner_email)
    granted = await portal.post(f"/users/{alpha.secondary_id}/permissions", {"permissions": "manage_users"})
    assert granted.url.path == "/users"
    assert await db.fetchval("SELECT permissions FROM users WHERE id = $1", alpha.secondary_id) == ["manage_users"]
    await other_portal.login(alpha.secondary_email)
    assert (await other_portal.get("/users")).status == 200
    assert (await invite(other_portal, "Dan", "dan@example.com", "manage_users")).url.path == "/users"
    # Not themself, and not the owner.
    assert (await other_portal.post(f"/users/{alpha.secondary_id}/remove")).status == 400  # themself
    assert (await other_portal.post(f"/users/{alpha.owner_id}/remove")).status == 404
    assert await db.fetchval("SELECT count(*) FROM users WHERE customer_id = $1", alpha.customer_id) == 3
    revoked = await portal.post(f"/users/{alpha.secondary_id}/permissions", {})
    assert revoked.url.path == "/users"
    assert (await other_portal.get("/users")).status == 403  # takes effect at once, no new login needed


async def test_removing_a_user_ends_their_sessions_and_their_invitation(
    portal: Portal, other_portal: Portal, db: asyncpg.Pool, customers: tuple[Customer, Customer]
) -> None:
    alpha, _ = customers
    await other_portal.login(alpha.secondary_email)
    await portal.login(alpha.owner_email)
    removed = await portal.post(f"/users/{alpha.secondary_id}/remove")
    assert removed.url.path == "/users" and "no longer has access" in await removed.text()
    assert (await other_portal.get("/dashboard")).url.path == "/login"
    await invite(portal, "Eve", "eve@example.com")
    eve_id = await db.fetchval("SELECT id FROM users WHERE email = 'eve@example.com'")
    resent = await portal.post(f"/users/{eve_id}/resend")
    assert "new invitation" in await resent.text()
    first, second = (link_in(m["body"]) for m in await mails_to(db, "eve@example.com"))
    assert (await other_portal.get(first)).status == 404  # superseded
    await portal.post(f"/users/{eve_id}/remove")
    assert (await other_portal.get(second)).status == 404  # removed before accepting


async def test_more_invitation_posts_at_once_than_pool_connections_all_get_an_answer(
    database_url: str, tmp_path: Path
) -> None:
    # Each POST used to hold one connection while asking for a second: a full pool waited on itself for good.
    app = create_app(portal_config(tmp_path, database__pool_max_size=2), database_url)
    async with TestClient(TestServer(app)) as client:
        visitor = Portal(client)
        await visitor.get("/login")
        form = {"csrf_token": visitor.csrf, "name": "X", "password": PASSWORD, "password_confirm": PASSWORD}
        async with asyncio.timeout(20):
            answers = await asyncio.gather(*(client.post("/invitation/bogus", data=form) for _ in range(8)))
            assert [a.status for a in answers] == [404] * 8
            assert (await client.get("/healthz")).status == 200


async def test_names_with_control_characters_are_refused_next_to_the_field(
    portal: Portal, other_portal: Portal, db: asyncpg.Pool, customers: tuple[Customer, Customer]
) -> None:
    alpha, _ = customers
    await portal.login(alpha.owner_email)
    refused = await invite(portal, "Eve\r\nBcc: x@example.com", "eve@example.com")
    assert refused.status == 400 and 'id="f-name-error"' in await refused.text()
    assert await mails_to(db, "eve@example.com") == []
    await invite(portal, "Carol", "carol@example.com")
    [mail] = await mails_to(db, "carol@example.com")
    link = link_in(mail["body"])
    await other_portal.get(link)
    accepted = await other_portal.post(link, {"name": "Carol\x00", "password": PASSWORD, "password_confirm": PASSWORD})
    assert accepted.status == 422 and 'id="f-name-error"' in await accepted.text()
