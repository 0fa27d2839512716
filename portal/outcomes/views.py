"""The "What we did" page: /signals/incidents/{incident_id}, the customer's account of one incident."""

from __future__ import annotations

from aiohttp import web

from portal.auth.access import Access, access, scope_of
from portal.keys import pool_key
from portal.outcomes.queries import outcome_of
from portal.paths import path_id
from portal.render import render

routes = web.RouteTableDef()


@routes.get("/signals/incidents/{incident_id}", name="signals.incident")
@access(Access.CUSTOMER)
async def incident_page(request: web.Request) -> web.StreamResponse:
    async with request.app[pool_key].acquire() as connection:
        outcome = await outcome_of(connection, scope_of(request), path_id(request, "incident_id"))
    return await render(request, "outcomes/incident.html", {"outcome": outcome})
