"""The staff landing page (a searchable customer directory) and one customer's record."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from portal.auth.access import Access, access
from portal.dashboard.views import category_label
from portal.keys import pool_key
from portal.render import render
from portal.staff import queries

routes = web.RouteTableDef()


def path_id(request: web.Request, name: str) -> int:
    """A numeric id from the path; anything else is simply not found."""
    try:
        return int(request.match_info[name])
    except ValueError:
        raise web.HTTPNotFound() from None


@routes.get("/staff", name="staff")
@access(Access.STAFF)
async def directory(request: web.Request) -> web.StreamResponse:
    search = request.query.get("q", "").strip()
    async with request.app[pool_key].acquire() as connection:
        customers = await queries.find_customers(connection, search)
    return await render(request, "staff/index.html", {"customers": customers, "search": search})


async def customer_context(request: web.Request) -> dict[str, Any]:
    customer_id = path_id(request, "customer_id")
    async with request.app[pool_key].acquire() as connection:
        customer = await queries.customer(connection, customer_id)
        rows = await queries.sites_and_panels(connection, customer_id)
        users = await queries.users_of(connection, customer_id)
        signals = await queries.recent_signals(connection, customer_id)
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
        "category_label": category_label,
    }


@routes.get("/staff/customers/{customer_id}", name="staff.customer")
@access(Access.STAFF)
async def customer_page(request: web.Request) -> web.StreamResponse:
    return await render(request, "staff/customer.html", await customer_context(request))
