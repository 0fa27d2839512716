"""GET /metrics (Prometheus) and the HTTP request-latency metric it reports (SPEC X3)."""

from __future__ import annotations

import ipaddress
import time
from collections.abc import Awaitable, Callable

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, Histogram, generate_latest

from portal.auth.access import Access, access
from portal.keys import config_key

HTTP_LATENCY = Histogram(
    "alarmhub_http_request_duration_seconds",
    "Portal request latency, by route name and status class.",
    ["route", "status"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def latency_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Time every request; the route's name keeps the label set small (ids in paths are not labels)."""
    started = time.perf_counter()
    status = "5xx"
    try:
        response = await handler(request)
        status = f"{response.status // 100}xx"
        return response
    except web.HTTPException as error:
        status = f"{error.status // 100}xx"
        raise
    finally:
        route = request.match_info.route.name or "unmatched"
        HTTP_LATENCY.labels(route, status).observe(time.perf_counter() - started)


@access(Access.PUBLIC)
async def metrics(request: web.Request) -> web.Response:
    """Everything this process measures: the portal's requests and, inside `alarmhub run`, the receiver too.

    Only scrapers from `portal.metrics_allow` see it (counts of signals and logins are business data);
    everyone else gets 404, as if there were no such page.
    """
    if not _allowed(request.remote, request.app[config_key]["portal.metrics_allow"]):
        raise web.HTTPNotFound()
    response = web.Response(body=generate_latest(REGISTRY))
    response.content_type = CONTENT_TYPE_LATEST.split(";")[0]
    return response


def _allowed(remote: str | None, networks: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]) -> bool:
    try:
        address = ipaddress.ip_address(remote or "")
    except ValueError:
        return False
    return any(address in network for network in networks)


def add_routes(app: web.Application) -> None:
    app.router.add_get("/metrics", metrics, name="metrics")
