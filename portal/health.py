"""GET /healthz: whether this portal instance can reach its database, and whatever else its process wires in."""

from __future__ import annotations

from aiohttp import web

from portal.auth.access import Access, access
from portal.keys import pool_key, readiness_key
from shared.health import database_state, health_response, readiness_states


@access(Access.PUBLIC)
async def healthz(request: web.Request) -> web.Response:
    """200 when ready: the database answers and every readiness check of the process holds (under `alarmhub run`,
    the receiver listens); 503 otherwise, naming what is not ready. A standalone portal checks its database only."""
    report = {"database": await database_state(request.app[pool_key])}
    if readiness_key in request.app:
        checks = request.app[readiness_key]
        report |= readiness_states(checks)
    return health_response(report)


def add_routes(app: web.Application) -> None:
    app.router.add_get("/healthz", healthz, name="healthz")
