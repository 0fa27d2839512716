"""The admins' API tokens page: every token with its role and use (never the token itself), and revoking one."""

from __future__ import annotations

from aiohttp import web
from aiohttp_session import get_session

from portal.auth.access import Access, access
from portal.auth.sessions import flash
from portal.forms import redirect
from portal.keys import pool_key
from portal.paths import path_id
from portal.render import render
from shared.api_tokens import list_api_tokens, revoke_api_token_by_id

routes = web.RouteTableDef()


@routes.get("/admin/api-tokens", name="admin.api_tokens")
@access(Access.ADMIN)
async def api_tokens_page(request: web.Request) -> web.StreamResponse:
    async with request.app[pool_key].acquire() as connection:
        tokens = await list_api_tokens(connection)
    return await render(request, "admin/api_tokens.html", {"tokens": tokens})


@routes.post("/admin/api-tokens/{token_id}/revoke", name="admin.api_token_revoke")
@access(Access.ADMIN)
async def revoke_api_token(request: web.Request) -> web.StreamResponse:
    async with request.app[pool_key].acquire() as connection:
        revoked = await revoke_api_token_by_id(connection, path_id(request, "token_id"))
    flash(await get_session(request), f"API token {revoked.name} is revoked: programs using it get 401 from now on.")
    raise redirect("/admin/api-tokens")
