"""The Service Center's landing page (/service): its options, and the requests still open."""

from __future__ import annotations

from aiohttp import web

from portal.auth.access import Access, access, scope_of
from portal.keys import config_key, pool_key
from portal.render import render
from shared.service.requests import open_requests

routes = web.RouteTableDef()

OPEN_SHOWN = 5


@routes.get("/service", name="service")
@access(Access.CUSTOMER)
async def service_center(request: web.Request) -> web.StreamResponse:
    async with request.app[pool_key].acquire() as connection:
        still_open = await open_requests(connection, scope_of(request), limit=OPEN_SHOWN)
    return await render(
        request,
        "service/index.html",
        {
            "open_requests": still_open,
            "response_promise": request.app[config_key]["service.response_promise"],
        },
    )
