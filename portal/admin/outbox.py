"""The admins' view of the e-mail outbox: what is waiting, sent, refused or cancelled, and why."""

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
            """SELECT o.id, o.created_at, o.recipient, o.subject, o.body, o.html <> '' AS has_html, o.status,
                      o.attempts, o.next_attempt_at, o.last_error, o.sent_at,
                      coalesce((SELECT array_agg(a.filename || ' (' || pg_size_pretty(a.size::bigint) || ')'
                                                 ORDER BY a.position)
                                  FROM outbox_attachments a WHERE a.outbox_id = o.id), '{}') AS attachments
                 FROM outbox o ORDER BY o.created_at DESC, o.id DESC LIMIT $1""",
            OUTBOX_PAGE_SIZE,
        )
        counts = dict(await connection.fetch("SELECT status, count(*) FROM outbox GROUP BY status"))
    # Without SMTP (development) the outbox is the only way to read a mail, links included; with SMTP the
    # bodies stay private to their recipients. The text part is shown: the HTML part says the same.
    show_bodies = not request.app[config_key]["email.smtp_url"]
    return await render(request, "admin/outbox.html", {"mails": mails, "counts": counts, "show_bodies": show_bodies})
