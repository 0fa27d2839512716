"""The Alarm notifications page: for each user of the account (the owner and the secondary users), whether they are
e-mailed about alarms, power loss and failure to communicate. The owner changes it; a secondary user allowed to
manage users sees it. Saved through shared.incidents.notifications (which checks the owner again)."""

from __future__ import annotations

from typing import Any

from aiohttp import web
from aiohttp_session import get_session

from portal.auth.access import Access, access, scope_of, viewer_of
from portal.auth.model import Permission, Role
from portal.auth.sessions import flash
from portal.forms import Form, form_view, redirect
from portal.keys import pool_key
from portal.paths import parse_id
from portal.render import render
from shared.errors import Forbidden
from shared.incidents.model import NOTIFICATION_LABELS
from shared.incidents.notifications import ONLY_THE_OWNER, parse_categories, preferences_of, set_preferences

routes = web.RouteTableDef()
TEMPLATE = "notifications/index.html"
FIELD = "notify"  # each ticked box: "<user id>:<category>"


async def page_context(request: web.Request) -> dict[str, Any]:
    async with request.app[pool_key].acquire() as connection:
        subscribers = await preferences_of(connection, scope_of(request).customer_id)
    return {
        "subscribers": subscribers,
        "categories": list(NOTIFICATION_LABELS.items()),
        "may_change": viewer_of(request).role is Role.OWNER,
    }


def chosen_of(form: Form) -> dict[int, set[str]]:
    """The ticked boxes by user id; a box that names no user is left out (the owner's own page never sends one)."""
    chosen: dict[int, set[str]] = {}
    for value in form.all(FIELD):
        user, _, category = value.partition(":")
        user_id = parse_id(user)
        if user_id is not None:
            chosen.setdefault(user_id, set()).add(category)
    return chosen


@routes.get("/notifications", name="notifications")
@access(Access.CUSTOMER, Permission.MANAGE_USERS)
async def notifications_page(request: web.Request) -> web.StreamResponse:
    return await render(request, TEMPLATE, await page_context(request))


@routes.post("/notifications", name="notifications.save")
@access(Access.CUSTOMER, Permission.MANAGE_USERS)
@form_view(TEMPLATE, page_context)
async def save(request: web.Request, form: Form) -> web.StreamResponse:
    scope, viewer = scope_of(request), viewer_of(request)
    if viewer.role is not Role.OWNER:
        raise Forbidden(ONLY_THE_OWNER)
    chosen = chosen_of(form)
    for categories in chosen.values():
        parse_categories(categories)  # an unknown category refuses the whole form, before anything is saved
    async with request.app[pool_key].acquire() as connection, connection.transaction():
        # Every user of this customer gets what was ticked for them (nothing ticked: no mail); ids of anyone else
        # are never looked at.
        for subscriber in await preferences_of(connection, scope.customer_id):
            wanted = chosen.get(subscriber.user_id, set())
            if {c.value for c in subscriber.categories} != wanted:
                await set_preferences(connection, scope.customer_id, subscriber.user_id, wanted, by=scope.user_id)
    flash(await get_session(request), "Saved who is notified about what.")
    raise redirect("/notifications")
