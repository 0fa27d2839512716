"""Wiring of the JSON API: its routes, the OpenAPI document, and the start-up check that every route declares one."""

from __future__ import annotations

from aiohttp import web

from portal.api import accounts, incidents, signals
from portal.api.openapi import Component, Reply, check_api_routes_declare_operations, openapi_document, operation
from portal.api.paging import CursorCodec, api_cursor_codec_key
from portal.auth.access import Access, access
from portal.auth.session_key import session_keys
from portal.keys import config_key

API_VERSION = "1"
routes = web.RouteTableDef()


def document_of(app: web.Application) -> dict[str, object]:
    return openapi_document(app, title=f"{app[config_key]['portal.company_name']} API", version=API_VERSION)


@routes.get("/api/v1/openapi.json", name="api.openapi")
@access(Access.PUBLIC)
@operation(
    "This document: the OpenAPI 3.1 description of the API",
    responses={200: Reply("The OpenAPI document.", Component("OpenAPIDocument", {"type": "object"}))},
    tags=("meta",),
)
async def openapi(request: web.Request) -> web.StreamResponse:
    return web.json_response(document_of(request.app))


async def refuse_undeclared_operations(app: web.Application) -> None:
    """As for access rules: an /api/ route without its operation stops the portal from starting."""
    check_api_routes_declare_operations(app)
    document_of(app)


def setup(app: web.Application) -> None:
    app.router.add_routes(routes)
    app[api_cursor_codec_key] = CursorCodec(*session_keys(app[config_key]))
    for endpoints in (accounts, signals, incidents):
        app.router.add_routes(endpoints.routes)
    # First of all startup work (aiohttp runs every cleanup_ctx before the on_startup handlers appended later):
    # a portal whose API is misdeclared refuses to start before it opens a pool or starts the console's listener.
    app.on_startup.insert(0, refuse_undeclared_operations)
