"""Cross-cutting middleware: security headers on every answer, and domain errors turned into pages or JSON."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web
from aiohttp.typedefs import Middleware

from portal.render import render
from shared.errors import DomainError
from shared.logs import get_logger

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

log = get_logger(__name__)

CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    )
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=(), payment=()",
}
HSTS = "max-age=31536000; includeSubDomains"


def security_headers_middleware(*, https: bool) -> Middleware:
    """Headers for every answer, errors included; HSTS only when the portal is reached over TLS."""

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        try:
            response = await handler(request)
        except web.HTTPException as error:
            error.headers.update(_headers_for(request, https))
            raise
        response.headers.update(_headers_for(request, https))
        return response

    return middleware


def _headers_for(request: web.Request, https: bool) -> dict[str, str]:
    headers = dict(SECURITY_HEADERS)
    if https:
        headers["Strict-Transport-Security"] = HSTS
    if not request.path.startswith("/static/"):
        headers["Cache-Control"] = "no-store"  # pages show account data: never kept by the browser or a proxy
    return headers


def _wants_json(request: web.Request) -> bool:
    return request.path.startswith("/api/")


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """DomainError → its status with a page (or JSON under /api/); HTTP errors get the same treatment."""
    try:
        return await handler(request)
    except DomainError as error:
        status, message = error.status, error.message
    except web.HTTPException as error:
        if error.status < 400:
            raise
        status, message = error.status, _HTTP_MESSAGES.get(error.status, error.reason)
    except Exception:
        log.exception("request failed", route=_route_of(request), method=request.method)
        status, message = 500, "something went wrong on our side; please try again in a moment"
    if _wants_json(request):
        return web.json_response({"error": message}, status=status)
    return await render(request, "errors/error.html", {"status": status, "message": message}, status=status)


def _route_of(request: web.Request) -> str:
    """The route's pattern, not the path: paths can carry single-use tokens that must not reach the logs."""
    resource = request.match_info.route.resource
    return resource.canonical if resource is not None else "?"


_HTTP_MESSAGES = {
    403: "your login does not give access to this page",
    404: "there is no such page",
    405: "this page does not take that kind of request",
    413: "what you sent is too large",
}
