"""My requests: each of the customer's requests with its state, and one request's timeline — never staff's notes."""

from __future__ import annotations

from aiohttp import web

from portal.auth.access import Access, access, scope_of
from portal.keys import config_key, pool_key
from portal.paths import path_id
from portal.render import render
from shared.service.requests import confirmation_recipient, get_request, list_requests

routes = web.RouteTableDef()

# My requests shows this many, newest first: a customer rarely has more, and service history keeps the work done.
SHOWN = 100


@routes.get("/service/requests", name="service.requests")
@access(Access.CUSTOMER)
async def my_requests(request: web.Request) -> web.StreamResponse:
    async with request.app[pool_key].acquire() as connection:
        requests = await list_requests(connection, scope_of(request), limit=SHOWN)
    return await render(request, "service/requests.html", {"requests": requests, "shown": SHOWN})


@routes.get("/service/requests/{request_id}", name="service.request_detail")
@access(Access.CUSTOMER)
async def request_detail(request: web.Request) -> web.StreamResponse:
    """One request with every answer and visit; `?sent=1` (after Submit) opens it with the confirmation."""
    sent = request.query.get("sent") == "1"
    async with request.app[pool_key].acquire() as connection:
        service_request, events, visits = await get_request(
            connection, scope_of(request), path_id(request, "request_id"), internal=False
        )
        # Right after Submit: the address the confirmation went to (the contact's only when it is on file).
        mailed_to = (
            await confirmation_recipient(connection, scope_of(request), service_request.contact_email) if sent else ""
        )
    return await render(
        request,
        "service/request_detail.html",
        {
            "service_request": service_request,
            "events": events,
            "visits": visits,
            "sent": sent,
            "mailed_to": mailed_to,
            "response_promise": request.app[config_key]["service.response_promise"],
        },
    )
