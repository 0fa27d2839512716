"""The staff landing page (a searchable customer directory) and one customer's record."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from portal.auth.access import Access, access, staff_scope
from portal.keys import pool_key
from portal.paths import path_id
from portal.render import render
from portal.staff import queries
from shared.signal_queries import recent_signals

routes = web.RouteTableDef()
STAFF_RECENT_SIGNALS = 20


@routes.get("/staff", name="staff")
@access(Access.STAFF)
async def directory(request: web.Request) -> web.StreamResponse:
    search = request.query.get("q", "").strip()
    async with request.app[pool_key].acquire() as connection:
        customers = await queries.find_customers(connection, search)
    return await render(request, "staff/index.html", {"customers": customers, "search": search})


async def customer_context(request: web.Request) -> dict[str, Any]:
    scope = staff_scope(request, path_id(request, "customer_id"))
    async with request.app[pool_key].acquire() as connection:
        customer = await queries.customer(connection, scope)
        rows = await queries.sites_and_panels(connection, scope)
        users = await queries.users_of(connection, scope)
        signals = await recent_signals(connection, scope, STAFF_RECENT_SIGNALS)
    sites: dict[int, dict[str, Any]] = {}
    for row in rows:
        site = sites.setdefault(row["site_id"], {"row": row, "panels": []})
        if row["panel_id"] is not None:
            site["panels"].append(row)
    return {
        "customer": customer,
        "sites": list(sites.values()),
        "users": users,
        "signals": signals,
    }


@routes.get("/staff/customers/{customer_id}", name="staff.customer")
@access(Access.STAFF)
async def customer_page(request: web.Request) -> web.StreamResponse:
    return await render(request, "staff/customer.html", await customer_context(request))
