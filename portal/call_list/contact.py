"""One call-list contact's pages: change what is on file for them, and remove them after a confirmation."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from aiohttp import web
from aiohttp_session import get_session

from portal.auth.access import Access, access, scope_of
from portal.auth.model import Permission
from portal.auth.sessions import flash
from portal.call_list.views import details_of, list_url
from portal.forms import Form, InvalidForm, form_view, redirect
from portal.keys import pool_key
from portal.paths import path_id
from portal.render import render
from shared.call_list import InvalidContact, contact_of, edit_contact, remove_contact, site_of

routes = web.RouteTableDef()


async def contact_context(request: web.Request) -> dict[str, Any]:
    """The contact and its premises; NotFound for a contact of another customer."""
    scope = scope_of(request)
    async with request.app[pool_key].acquire() as connection:
        contact = await contact_of(connection, scope, path_id(request, "contact_id"))
        site = await site_of(connection, scope, contact.site_id)
    return {"contact": contact, "site": site}


@routes.get("/call-list/contacts/{contact_id}/edit", name="call_list.edit")
@access(Access.CUSTOMER, Permission.MANAGE_CALL_LIST)
async def edit_page(request: web.Request) -> web.StreamResponse:
    context = await contact_context(request)
    form = {name: value for name, value in asdict(context["contact"].details).items() if name != "has_keys"}
    if context["contact"].has_keys:
        form["has_keys"] = "yes"
    return await render(request, "call_list/edit.html", {**context, "form": form})


@routes.post("/call-list/contacts/{contact_id}/edit", name="call_list.edit")
@access(Access.CUSTOMER, Permission.MANAGE_CALL_LIST)
@form_view("call_list/edit.html", contact_context)
async def edit(request: web.Request, form: Form) -> web.StreamResponse:
    async with request.app[pool_key].acquire() as connection:
        try:
            contact = await edit_contact(
                connection, scope_of(request), path_id(request, "contact_id"), details_of(form)
            )
        except InvalidContact as error:
            raise InvalidForm(error.errors) from None
    flash(await get_session(request), f"The details of {contact.name} are saved.")
    raise redirect(list_url(contact.site_id, f"contact-{contact.id}"))


@routes.get("/call-list/contacts/{contact_id}/remove", name="call_list.remove")
@access(Access.CUSTOMER, Permission.MANAGE_CALL_LIST)
async def remove_page(request: web.Request) -> web.StreamResponse:
    return await render(request, "call_list/remove.html", await contact_context(request))


@routes.post("/call-list/contacts/{contact_id}/remove", name="call_list.remove")
@access(Access.CUSTOMER, Permission.MANAGE_CALL_LIST)
@form_view("call_list/remove.html", contact_context)
async def remove(request: web.Request, form: Form) -> web.StreamResponse:
    async with request.app[pool_key].acquire() as connection:
        contact = await remove_contact(connection, scope_of(request), path_id(request, "contact_id"))
        site = await site_of(connection, scope_of(request), contact.site_id)
    flash(await get_session(request), f"{contact.name} is removed from the call list for {site.name}.")
    raise redirect(list_url(contact.site_id, "contacts-title"))
