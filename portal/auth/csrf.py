"""CSRF: every state-changing request carries the session's token (form field or header), compared in constant time."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web
from aiohttp_session import get_session

from portal.api.bearer import is_api_request
from portal.auth.sessions import csrf_matches
from shared.errors import Forbidden

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"


class CsrfRefused(Forbidden):
    """The request carried no CSRF token, or not this session's."""


@web.middleware
async def csrf_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    if request.method in SAFE_METHODS:
        return await handler(request)
    if is_api_request(request):
        # Safe only because cookies are ignored under /api/ (viewer_middleware): the API authenticates by the
        # Authorization header alone, which a browser never adds by itself, so a forged cross-site request has
        # nothing to ride on.
        return await handler(request)
    offered = request.headers.get(CSRF_HEADER)
    if offered is None and request.content_type in ("application/x-www-form-urlencoded", "multipart/form-data"):
        value = (await request.post()).get(CSRF_FIELD)  # aiohttp keeps the parsed form for the handler
        offered = value if isinstance(value, str) else None
    if not csrf_matches(await get_session(request), offered):
        raise CsrfRefused("this form has expired or did not come from this site: reload the page and try again")
    return await handler(request)
