"""GET /healthz: whether this portal instance can reach its database."""

from __future__ import annotations

import asyncio

import asyncpg
from aiohttp import web

from portal.auth.access import Access, access
from portal.keys import pool_key

HEALTH_QUERY_TIMEOUT = 2.0


@access(Access.PUBLIC)
async def healthz(request: web.Request) -> web.Response:
    pool = request.app[pool_key]
    try:
        async with asyncio.timeout(HEALTH_QUERY_TIMEOUT):
            await pool.fetchval("SELECT 1")
    except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, TimeoutError):
        return web.json_response({"database": "unavailable"}, status=503)
    return web.json_response({"database": "ok"})


def add_routes(app: web.Application) -> None:
    app.router.add_get("/healthz", healthz, name="healthz")
