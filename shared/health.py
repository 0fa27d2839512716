"""What every /healthz answers (portal, receiver, worker): named checks, 200 when all say "ok", 503 otherwise."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping

import asyncpg
from aiohttp import web

from shared.db import Pool

HEALTH_QUERY_TIMEOUT = 2.0
OK = "ok"
NOT_READY = "not ready"
UNAVAILABLE = "unavailable"  # the database


async def database_state(pool: Pool) -> str:
    """OK when `SELECT 1` answers within HEALTH_QUERY_TIMEOUT, UNAVAILABLE otherwise."""
    try:
        async with asyncio.timeout(HEALTH_QUERY_TIMEOUT):
            await pool.fetchval("SELECT 1")
    except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, TimeoutError):
        return UNAVAILABLE
    return OK


def readiness_states(checks: Mapping[str, Callable[[], bool]]) -> dict[str, str]:
    """Each check by its name: "ok" when it holds, "not ready" when it does not."""
    return {name: OK if ready() else NOT_READY for name, ready in checks.items()}


def health_response(report: Mapping[str, str]) -> web.Response:
    """The report as JSON: 200 when every entry is "ok", 503 otherwise (the entries that are not name the cause)."""
    healthy = all(state == OK for state in report.values())
    return web.json_response(dict(report), status=200 if healthy else 503)
