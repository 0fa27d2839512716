"""The verbal passcode of a premises: the owner sets, changes or clears it. Nobody else's page ever holds it."""

from __future__ import annotations

from typing import Any

from aiohttp import web
from aiohttp_session import get_session

from portal.auth.access import Access, access, scope_of
from portal.auth.sessions import flash
from portal.call_list.views import TEMPLATE, context_of_site, is_owner, list_url
from portal.forms import Form, form_view, redirect
from portal.keys import pool_key
from portal.paths import path_id
from portal.render import render
from shared.call_list import clear_passcode, set_passcode, site_of
from shared.errors import Forbidden

routes = web.RouteTableDef()
OWNER_ONLY = "only the account owner can see or change the verbal passcode"


async def owners_site(request: web.Request) -> dict[str, Any]:
    """The premises (NotFound for another customer's, before anything else), for its owner only."""
    async with request.app[pool_key].acquire() as connection:
        site = await site_of(connection, scope_of(request), path_id(request, "site_id"))
    if not is_owner(request):
        raise Forbidden(OWNER_ONLY)
    return {"site": site}


@routes.post("/call-list/{site_id}/passcode", name="call_list.passcode")
@access(Access.CUSTOMER)
@form_view(TEMPLATE, context_of_site)
async def set_the_passcode(request: web.Request, form: Form) -> web.StreamResponse:
    site_id = path_id(request, "site_id")
    async with request.app[pool_key].acquire() as connection:
        # The shared rule refuses anyone but the owner too; the typed value is never echoed into the page again.
        changed = await set_passcode(connection, scope_of(request), site_id, form.get("passcode"))
    said = "The verbal passcode is saved." if changed else "The verbal passcode was already that."
    flash(await get_session(request), said)
    raise redirect(list_url(site_id, "passcode-title"))


@routes.get("/call-list/{site_id}/passcode/clear", name="call_list.passcode_clear")
@access(Access.CUSTOMER)
async def clear_page(request: web.Request) -> web.StreamResponse:
    return await render(request, "call_list/passcode_clear.html", await owners_site(request))


@routes.post("/call-list/{site_id}/passcode/clear", name="call_list.passcode_clear")
@access(Access.CUSTOMER)
@form_view("call_list/passcode_clear.html", owners_site)
async def clear(request: web.Request, form: Form) -> web.StreamResponse:
    site_id = path_id(request, "site_id")
    async with request.app[pool_key].acquire() as connection:
        await clear_passcode(connection, scope_of(request), site_id)
    flash(await get_session(request), "The verbal passcode is cleared: our dispatchers will not ask for one.")
    raise redirect(list_url(site_id, "passcode-title"))
