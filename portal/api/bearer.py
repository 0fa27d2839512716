"""Authentication under /api/: an `Authorization: Bearer` token and nothing else; its holder becomes the viewer."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import structlog
from aiohttp import web

from portal.auth.model import Role, Viewer
from portal.keys import api_client_key, pool_key, viewer_key
from shared.api_tokens import ApiClient, authenticate

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

API_PREFIX = "/api/"
REALM = 'Bearer realm="alarmhub"'
# A token's viewer has no users row: 0 is never a users.id (identity columns start at 1), so anything that would
# write it as one fails loudly instead of blaming a person. The token is named in the logs (api_client).
TOKEN_USER_ID = 0


def is_api_request(request: web.Request) -> bool:
    """A request for the API: by its path, or by the route it matched (whatever spelling of the path got there)."""
    if request.path.startswith(API_PREFIX):
        return True
    resource = request.match_info.route.resource
    return resource is not None and resource.canonical.startswith(API_PREFIX)


def unauthenticated(*, token_offered: bool) -> web.Response:
    """401 with the RFC 6750 challenge: `error="invalid_token"` when a token was offered and is not good."""
    if token_offered:
        message = "this bearer token is not valid: it is unknown or revoked"
        challenge = f'{REALM}, error="invalid_token"'
    else:
        message = "this API needs a bearer token: send Authorization: Bearer <token>"
        challenge = REALM
    return web.json_response({"error": message}, status=401, headers={"WWW-Authenticate": challenge})


def viewer_for(client: ApiClient) -> Viewer:
    """The token's holder as the request's viewer, so API routes declare access with the same rules as pages."""
    return Viewer(
        user_id=TOKEN_USER_ID,
        session_hash=b"",
        email="",
        name=f"API token {client.name}",
        role=Role(client.role),
        customer_id=None,
        permissions=frozenset(),
        email_confirmed=True,
    )


def offered_token(request: web.Request) -> str | None:
    """The bearer token in the Authorization header ('' for a Bearer header without one); None for no bearer."""
    scheme, _, credentials = request.headers.get("Authorization", "").strip().partition(" ")
    if scheme.lower() != "bearer":
        return None
    return credentials.strip()


@web.middleware
async def bearer_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Under /api/: a live token sets the viewer; a bad one is refused here; none leaves it to the access rule."""
    if not is_api_request(request):
        return await handler(request)
    token = offered_token(request)
    if token is None:
        return await handler(request)  # the access middleware answers 401 for every route that needs a login
    client = await authenticate(request.app[pool_key], token)
    if client is None:
        return unauthenticated(token_offered=True)
    request[api_client_key] = client
    request[viewer_key] = viewer_for(client)
    structlog.contextvars.bind_contextvars(api_client=client.name)  # this request's task only
    return await handler(request)
