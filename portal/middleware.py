"""Cross-cutting request handling: request ids, the access log, headers on every answer, errors as pages or JSON."""

from __future__ import annotations

import asyncio
import re
import time
import uuid
from collections.abc import Awaitable, Callable

import structlog
from aiohttp import web

from portal.keys import request_id_key, viewer_key
from portal.metrics import observe_latency
from portal.render import render
from shared.db import database_unavailable
from shared.errors import DomainError
from shared.logs import get_logger

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
ResponseHook = Callable[[web.Request, web.StreamResponse], Awaitable[None]]

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
REQUEST_ID = "X-Request-ID"
_SANE_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")
CLIENT_WENT_AWAY = 499  # the client closed the connection before the answer (nginx's convention)


def response_headers(*, https: bool) -> ResponseHook:
    """An `on_response_prepare` hook: security headers and X-Request-ID on every answer, as its headers leave.

    A middleware would miss the answers a handler streams itself (CSV, PDF: `prepare()` sends the headers before
    any middleware sees the response); the signal fires for those as for pages, errors and redirects.
    HSTS only when the portal is reached over TLS.
    """

    async def on_response_prepare(request: web.Request, response: web.StreamResponse) -> None:
        response.headers.update(SECURITY_HEADERS)
        if https:
            response.headers["Strict-Transport-Security"] = HSTS
        if not request.path.startswith("/static/"):
            response.headers["Cache-Control"] = "no-store"  # pages show account data: never kept by a browser or proxy
        request_id = request.get(request_id_key)
        if request_id is not None:
            response.headers[REQUEST_ID] = request_id

    return on_response_prepare


def request_id_for(incoming: str | None) -> str:
    """The caller's X-Request-ID when it is sane (it goes into logs and headers as is), else a new one."""
    if incoming is not None and _SANE_REQUEST_ID.fullmatch(incoming):
        return incoming
    return uuid.uuid4().hex


@web.middleware
async def request_id_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Outermost: the request's id, kept on the request (for its response) and bound into structlog's context for
    the request, so that every line it causes, aiohttp's and asyncpg's included, can be found by it."""
    request_id = request_id_for(request.headers.get(REQUEST_ID))
    request[request_id_key] = request_id
    with structlog.contextvars.bound_contextvars(request_id=request_id):
        return await handler(request)


@web.middleware
async def access_log_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """One "request" line per request, and its latency metric. It runs inside forwarded_for_middleware (the
    address is the client's) and sees the viewer the session middleware sets on the same request."""
    started = time.perf_counter()
    status, response = 500, None
    try:
        response = await handler(request)
        status = response.status
        return response
    except web.HTTPException as error:  # redirects; other errors became pages in error_middleware
        status = error.status
        raise
    except asyncio.CancelledError:
        status = CLIENT_WENT_AWAY
        raise
    finally:
        elapsed = time.perf_counter() - started
        observe_latency(request, status, elapsed)
        _log_request(request, status, elapsed, response)


def _log_request(request: web.Request, status: int, elapsed: float, response: web.StreamResponse | None) -> None:
    fields: dict[str, object] = {
        "method": request.method,
        "route": _route_of(request),
        "status": status,
        "duration_ms": round(elapsed * 1000, 2),
        "client": request.remote,
    }
    size = response.content_length if response is not None else None
    if size is not None:
        fields["bytes"] = size
    viewer = request.get(viewer_key)
    if viewer is not None:
        fields["user_id"] = viewer.user_id
    if status == 503:
        log.warning("request", **fields)  # unavailable for now: error_middleware said why, once every 10 s
    elif status >= 500:
        log.error("request", **fields)  # error_middleware has logged the traceback once already
    else:
        log.info("request", **fields)  # a 4xx is the client's business, not an error of ours


def _wants_json(request: web.Request) -> bool:
    return request.path.startswith("/api/")


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """DomainError → its status with a page (or JSON under /api/); HTTP errors get the same treatment."""
    field: str | None = None
    try:
        return await handler(request)
    except DomainError as error:
        status, message, field = error.status, error.message, error.field
    except web.HTTPException as error:
        if error.status < 400:
            raise
        status, message = error.status, _HTTP_MESSAGES.get(error.status, error.reason)
    except Exception as error:
        if not database_unavailable(error):
            log.exception("request failed", route=_route_of(request), method=request.method)
            status, message = 500, "something went wrong on our side; please try again in a moment"
        else:
            _unavailable.seen(error)
            status, message = 503, UNAVAILABLE_MESSAGE
    headers = {"Retry-After": str(RETRY_AFTER_SECONDS)} if status == 503 else None
    if _wants_json(request):  # the field a domain error names is the API's parameter (accounts: "account")
        body = {"error": message, "parameter": field} if field else {"error": message}
        return web.json_response(body, status=status, headers=headers)
    page = await render(request, "errors/error.html", {"status": status, "message": message}, status=status)
    page.headers.update(headers or {})
    return page


UNAVAILABLE_MESSAGE = "the service is temporarily unavailable; please try again in a minute"
RETRY_AFTER_SECONDS = 30


class _Unavailability:
    """Says once in the log that the database cannot be reached — at most once every `every` seconds, with how many
    requests were answered 503 meanwhile — rather than a stack trace for each of them."""

    def __init__(self, every: float = 10.0) -> None:
        self.every = every
        self.last_logged = float("-inf")
        self.answered = 0

    def seen(self, error: Exception) -> None:
        self.answered += 1
        now = time.monotonic()
        if now - self.last_logged >= self.every:
            log.warning(
                "database unavailable; answering 503",
                error=f"{type(error).__name__}: {error}",
                requests=self.answered,
            )
            self.last_logged, self.answered = now, 0


_unavailable = _Unavailability()


def _route_of(request: web.Request) -> str | None:
    """The route's pattern, not the path: paths can carry single-use tokens that must not reach the logs."""
    resource = request.match_info.route.resource
    return resource.canonical if resource is not None else None  # no route matched


_HTTP_MESSAGES = {
    403: "your login does not give access to this page",
    404: "there is no such page",
    405: "this page does not take that kind of request",
    413: "what you sent is too large",
}
