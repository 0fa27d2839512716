"""GET /healthz: whether this portal instance can reach its database, and whatever else its process wires in."""

from __future__ import annotations

import asyncio

import asyncpg
from aiohttp import web

from portal.auth.access import Access, access
from portal.keys import pool_key, readiness_key

HEALTH_QUERY_TIMEOUT = 2.0


@access(Access.PUBLIC)
async def healthz(request: web.Request) -> web.Response:
    """200 when ready: the database answers and every readiness check of the process holds (under `alarmhub run`,
    the receiver listens); 503 otherwise, naming what is not ready. A standalone portal checks its database only."""
    pool = request.app[pool_key]
    report: dict[str, str] = {}
    try:
        async with asyncio.timeout(HEALTH_QUERY_TIMEOUT):
            await pool.fetchval("SELECT 1")
    except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, TimeoutError):
        report["database"] = "unavailable"
    else:
        report["database"] = "ok"
    for name, ready in request.app.get(readiness_key, {}).items():
        report[name] = "ok" if ready() else "not ready"
    healthy = all(state == "ok" for state in report.values())
    return web.json_response(report, status=200 if healthy else 503)


def add_routes(app: web.Application) -> None:
    app.router.add_get("/healthz", healthz, name="healthz")
