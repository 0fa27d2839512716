"""The admins' outbox page: mail with an HTML part and attachments, and mail cancelled with its removed user."""

from __future__ import annotations

import asyncpg

from shared.mail import Attachment
from shared.outbox import Mail, enqueue_mail
from tests.portal.conftest import Customer, Portal, mails_to


async def test_removing_an_invited_user_cancels_the_invitation_and_the_outbox_says_so(
    portal: Portal, other_portal: Portal, db: asyncpg.Pool, customers: tuple[Customer, Customer]
) -> None:
    alpha, _ = customers
    await portal.login(alpha.owner_email)
    await portal.post("/users/invite", {"name": "Eve", "email": "eve@example.com"})
    eve_id = await db.fetchval("SELECT id FROM users WHERE email = 'eve@example.com'")
    [waiting] = await mails_to(db, "eve@example.com")
    assert waiting["status"] == "pending" and waiting["user_id"] == eve_id and "/invitation/" in waiting["html"]
    assert (await portal.post(f"/users/{eve_id}/remove")).url.path == "/users"
    [cancelled] = await mails_to(db, "eve@example.com")
    assert (cancelled["status"], cancelled["body"], cancelled["html"]) == ("cancelled", "", "")

    await other_portal.login("admin@example.com")
    page = await (await other_portal.get("/admin/outbox")).text()
    assert "1 cancelled" in page and 'class="badge">cancelled<' in page and "its user was removed" in page


async def test_the_outbox_page_lists_attachments_by_name_and_size(
    portal: Portal, db: asyncpg.Pool, customers: tuple[Customer, Customer]
) -> None:
    pdf = Attachment("receipt-1001.pdf", "application/pdf", b"%PDF-1.4 " + b"x" * 2048)
    async with db.acquire() as connection, connection.transaction():
        await enqueue_mail(
            connection, Mail("ann@example.com", "Your receipt", "Thanks", html="<p>Thanks</p>", attachments=[pdf])
        )
    await portal.login("admin@example.com")
    page = await (await portal.get("/admin/outbox")).text()
    assert "Your receipt" in page and "receipt-1001.pdf (2057 bytes)" in page and "the HTML part says the same" in page
