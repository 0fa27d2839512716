"""Service history (seed 000: "the service calls you've had and the services we performed for you")."""

from __future__ import annotations

from aiohttp import web

from portal.auth.access import Access, access, scope_of
from portal.keys import pool_key
from portal.render import render
from shared.service.requests import service_history

routes = web.RouteTableDef()

SHOWN = 200


@routes.get("/service/history", name="service.history")
@access(Access.CUSTOMER)
async def history_page(request: web.Request) -> web.StreamResponse:
    async with request.app[pool_key].acquire() as connection:
        entries = await service_history(connection, scope_of(request), limit=SHOWN)
    return await render(request, "service/history.html", {"entries": entries, "shown": SHOWN})
