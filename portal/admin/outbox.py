"""The admins' view of the e-mail outbox: what is waiting, sent or refused, and why."""

from __future__ import annotations

from aiohttp import web

from portal.auth.access import Access, access
from portal.keys import config_key, pool_key
from portal.render import render

routes = web.RouteTableDef()
OUTBOX_PAGE_SIZE = 100


@routes.get("/admin/outbox", name="admin.outbox")
@access(Access.ADMIN)
async def outbox_page(request: web.Request) -> web.StreamResponse:
    async with request.app[pool_key].acquire() as connection:
        mails = await connection.fetch(
            "SELECT id, created_at, recipient, subject, body, status, attempts, next_attempt_at, last_error, sent_at "
            "FROM outbox ORDER BY created_at DESC, id DESC LIMIT $1",
            OUTBOX_PAGE_SIZE,
        )
        counts = dict(await connection.fetch("SELECT status, count(*) FROM outbox GROUP BY status"))
    # Without SMTP (development) the outbox is the only way to read a mail, links included; with SMTP the
    # bodies stay private to their recipients.
    show_bodies = not request.app[config_key]["email.smtp_url"]
    return await render(request, "admin/outbox.html", {"mails": mails, "counts": counts, "show_bodies": show_bodies})
