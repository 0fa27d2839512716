"""The Call list page (C12): each premises' contacts in calling order, adding one, moving and reordering them, the
owner's verbal passcode, and the history of changes."""

from __future__ import annotations

from typing import Any

from aiohttp import web
from aiohttp_session import get_session

from portal.auth.access import Access, access, scope_of, viewer_of
from portal.auth.model import Permission, Role
from portal.auth.sessions import flash
from portal.call_list.present import describe
from portal.forms import Form, InvalidForm, form_view, redirect
from portal.keys import pool_key
from portal.paths import parse_id, path_id
from portal.render import render
from shared.call_list import (
    MAX_CONTACTS,
    STALE_ORDER,
    ContactDetails,
    Direction,
    InvalidContact,
    add_contact,
    changes_of,
    contact_of,
    contacts_of,
    move_contact,
    passcode_of,
    premises_of,
    reorder,
    site_of,
)
from shared.db import Connection
from shared.errors import Conflict, NotFound

routes = web.RouteTableDef()
HISTORY_ROWS = 50
TEMPLATE = "call_list/index.html"


def may_manage(request: web.Request) -> bool:
    return viewer_of(request).may(Permission.MANAGE_CALL_LIST)


def is_owner(request: web.Request) -> bool:
    """The verbal passcode is the owner's alone to see and set (staff see it on the customer's record)."""
    return viewer_of(request).role is Role.OWNER


def list_url(site_id: int, fragment: str = "") -> str:
    return f"/call-list?site={site_id}" + (f"#{fragment}" if fragment else "")


def details_of(form: Form) -> ContactDetails:
    return ContactDetails(
        name=form.get("name"),
        phone=form.get("phone"),
        phone_alt=form.get("phone_alt"),
        relation=form.get("relation"),
        has_keys=form.get("has_keys") == "yes",
        notes=form.get("notes"),
    )


async def site_context(request: web.Request, connection: Connection, site_id: int | None) -> dict[str, Any]:
    """Everything the page shows for one premises (the first when `site_id` is None); NotFound for another's."""
    scope = scope_of(request)
    premises = await premises_of(connection, scope)
    site = await site_of(connection, scope, site_id) if site_id is not None else (premises[0] if premises else None)
    context: dict[str, Any] = {
        "premises": premises,
        "site": site,
        "contacts": [],
        "changes": [],
        "can_manage": may_manage(request),
        "is_owner": is_owner(request),
        "max_contacts": MAX_CONTACTS,
    }
    if site is None:
        return context
    context["contacts"] = await contacts_of(connection, scope, site.id)
    owner = context["is_owner"]
    changes = await changes_of(connection, scope, site.id, with_passcode=owner, limit=HISTORY_ROWS)
    context["changes"] = [describe(change) for change in changes]
    if owner:  # never read for anyone else: a secondary user's page cannot show what it never had
        context["passcode"] = await passcode_of(connection, scope, site.id)
    return context


async def _page_context(request: web.Request, site_id: int | None) -> dict[str, Any]:
    async with request.app[pool_key].acquire() as connection:
        return await site_context(request, connection, site_id)


async def context_of_site(request: web.Request) -> dict[str, Any]:
    """The page again after a refused form posted to /call-list/{site_id}/…"""
    return await _page_context(request, path_id(request, "site_id"))


async def context_of_contact(request: web.Request) -> dict[str, Any]:
    """The page again after a refused form posted to /call-list/contacts/{contact_id}/…: the contact's premises."""
    async with request.app[pool_key].acquire() as connection:
        contact = await contact_of(connection, scope_of(request), path_id(request, "contact_id"))
        return await site_context(request, connection, contact.site_id)


@routes.get("/call-list", name="call_list")
@access(Access.CUSTOMER)
async def call_list_page(request: web.Request) -> web.StreamResponse:
    chosen = request.query.get("site")
    site_id = parse_id(chosen) if chosen is not None else None
    if chosen is not None and site_id is None:
        raise NotFound("That premises was not found.")
    return await render(request, TEMPLATE, await _page_context(request, site_id))


@routes.post("/call-list/{site_id}/contacts", name="call_list.add")
@access(Access.CUSTOMER, Permission.MANAGE_CALL_LIST)
@form_view(TEMPLATE, context_of_site)
async def add(request: web.Request, form: Form) -> web.StreamResponse:
    site_id = path_id(request, "site_id")
    async with request.app[pool_key].acquire() as connection:
        try:
            contact = await add_contact(connection, scope_of(request), site_id, details_of(form))
        except InvalidContact as error:
            raise InvalidForm(error.errors) from None
        site = await site_of(connection, scope_of(request), site_id)
    flash(await get_session(request), f"{contact.name} is added to the call list for {site.name}.")
    raise redirect(list_url(site_id, f"contact-{contact.id}"))


def moved_focus(contact_id: int, position: int, count: int, direction: Direction) -> str:
    """Where the keyboard goes back to after a move: the button pressed, or the other one when it is gone (the
    contact reached the top or the bottom). The page's script focuses the element this fragment names."""
    has_up, has_down = position > 1, position < count
    if direction == "up":
        chosen = "up" if has_up else "down" if has_down else None
    else:
        chosen = "down" if has_down else "up" if has_up else None
    return f"move-{chosen}-{contact_id}" if chosen else f"contact-{contact_id}"


@routes.post("/call-list/contacts/{contact_id}/move", name="call_list.move")
@access(Access.CUSTOMER, Permission.MANAGE_CALL_LIST)
@form_view(TEMPLATE, context_of_contact)
async def move(request: web.Request, form: Form) -> web.StreamResponse:
    scope = scope_of(request)
    direction: Direction = "down" if form.get("direction") == "down" else "up"
    async with request.app[pool_key].acquire() as connection:
        moved = await move_contact(connection, scope, path_id(request, "contact_id"), direction)
        count = len(await contacts_of(connection, scope, moved.site_id))
    flash(await get_session(request), f"{moved.name} is now number {moved.position} on the call list.")
    raise redirect(list_url(moved.site_id, moved_focus(moved.id, moved.position, count, direction)))


def _ids_of(form: Form, name: str, unreadable: str) -> list[int]:
    ids = [parse_id(value.strip()) for value in form.all(name)]
    if not ids or any(contact_id is None for contact_id in ids):
        raise Conflict(unreadable)
    return [contact_id for contact_id in ids if contact_id is not None]


@routes.post("/call-list/{site_id}/order", name="call_list.order")
@access(Access.CUSTOMER, Permission.MANAGE_CALL_LIST)
@form_view(TEMPLATE, context_of_site)
async def order(request: web.Request, form: Form) -> web.StreamResponse:
    """The order after a drag and drop: call-list.js posts every contact's id first to last (`order`), beside the
    order the page showed when it was opened (`loaded`, written by the page itself). When the list has changed since
    then, the page comes back with the list as it is now and says so (a page without `loaded` is as old as that)."""
    site_id = path_id(request, "site_id")
    async with request.app[pool_key].acquire() as connection:
        await site_of(connection, scope_of(request), site_id)  # another customer's premises: 404 before anything
        new = _ids_of(form, "order", "the new order could not be read: please reload the page and try again")
        loaded = _ids_of(form, "loaded", STALE_ORDER)
        dragged = parse_id(form.get("dragged"))
        changed = await reorder(connection, scope_of(request), site_id, new, loaded=loaded, dragged=dragged)
    if changed:
        flash(await get_session(request), "The new order of the call list is saved.")
    raise redirect(list_url(site_id, "contacts-title"))
