"""GET /metrics (Prometheus) for allowed scrapers, and the HTTP request-latency metric it reports (SPEC X3)."""

from __future__ import annotations

from aiohttp import web
from prometheus_client import Histogram

from portal.auth.access import Access, access
from portal.keys import config_key
from portal.proxies import address_in
from shared.http_server import metrics_response

HTTP_LATENCY = Histogram(
    "alarmhub_http_request_duration_seconds",
    "Portal request latency, by route name and status class.",
    ["route", "status"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)


def observe_latency(request: web.Request, status: int, seconds: float) -> None:
    """The route's name keeps the label set small (ids in paths are not labels)."""
    route = request.match_info.route.name or "unmatched"
    HTTP_LATENCY.labels(route, f"{status // 100}xx").observe(seconds)


@access(Access.PUBLIC)
async def metrics(request: web.Request) -> web.Response:
    """Everything this process measures: the portal's requests and, inside `alarmhub run`, the receiver too.

    Only scrapers from `portal.metrics_allow` see it (counts of signals and logins are business data);
    everyone else gets 404, as if there were no such page.
    """
    if not address_in(request.remote, request.app[config_key]["portal.metrics_allow"]):
        raise web.HTTPNotFound()
    return metrics_response()


def add_routes(app: web.Application) -> None:
    app.router.add_get("/metrics", metrics, name="metrics")
