"""The staff landing page (a searchable customer directory) and one customer's record, made of sections."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from portal.auth.access import Access, access, rule_of, staff_scope, viewer_of
from portal.keys import pool_key, staff_sections_key
from portal.paths import path_id
from portal.render import render
from portal.staff import queries

routes = web.RouteTableDef()


@routes.get("/staff", name="staff")
@access(Access.STAFF)
async def directory(request: web.Request) -> web.StreamResponse:
    search = request.query.get("q", "").strip()
    async with request.app[pool_key].acquire() as connection:
        customers = await queries.find_customers(connection, search)
    return await render(request, "staff/index.html", {"customers": customers, "search": search})


def route_admits(request: web.Request, name: str) -> bool:
    """Whether the viewer may use the named route: a section shows a form only to those its route admits."""
    viewer = viewer_of(request)
    for route in request.app.router[name]:
        if route.method != "HEAD":
            rule = rule_of(route.handler)
            return rule is not None and rule.admits(viewer)
    return False


async def customer_context(request: web.Request) -> dict[str, Any]:
    """The customer's record: its header and every section the viewer's login admits (also after a form error)."""
    scope = staff_scope(request, path_id(request, "customer_id"))
    async with request.app[pool_key].acquire() as connection:
        customer = await queries.customer(connection, scope)
        sections = await request.app[staff_sections_key].load(connection, scope, viewer_of(request))
    return {
        "customer": customer,
        "sections": sections,
        "may_use": lambda name: route_admits(request, name),
    }


@routes.get("/staff/customers/{customer_id}", name="staff.customer")
@access(Access.STAFF)
async def customer_page(request: web.Request) -> web.StreamResponse:
    return await render(request, "staff/customer.html", await customer_context(request))
