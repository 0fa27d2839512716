"""Users (C8): invitations by e-mail, permissions for secondary users, removal that ends their sessions."""

from __future__ import annotations

import asyncpg

from tests.portal.conftest import PASSWORD, Customer, Portal, link_in, mails_to


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
    assert "payment" not in page.lower()  # no permission for a feature that does not exist yet
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
