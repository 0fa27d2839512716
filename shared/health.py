"""What every /healthz answers (portal, receiver, worker): named checks, 200 when all say "ok", 503 otherwise."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine, Mapping
from typing import Any, Final, TypeVar

import asyncpg
from aiohttp import web

from shared.db import Pool

HEALTH_QUERY_TIMEOUT = 2.0
OK = "ok"
NOT_READY = "not ready"
UNAVAILABLE = "unavailable"  # the database


# What a read of the database raises when the database does not answer it (TimeoutError is an OSError).
READ_FAILED: Final = (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, asyncpg.InternalClientError)

T = TypeVar("T")

_abandoned: set[asyncio.Task[Any]] = set()  # given up on, still ending: kept from the garbage collector


def _retrieve(task: asyncio.Task[Any]) -> None:
    if not task.cancelled():
        task.exception()  # retrieved: a failure nobody waits for any more is no news


async def answered_within(seconds: float, work: Coroutine[Any, Any, T]) -> T:
    """`work`'s result when it finishes within `seconds`; TimeoutError otherwise, without waiting for its clean-up:
    it is cancelled and left to end in the background. (A query cancelled on a server that accepts connections but
    never answers waits for its cancel request, and its connection's release for that, with no deadline: a
    /healthz or /metrics that waited would hang for minutes, holding the scraper's request open.)"""
    task = asyncio.create_task(work)
    task.add_done_callback(_retrieve)
    try:
        done, _ = await asyncio.wait({task}, timeout=seconds)
    finally:
        if not task.done():  # timed out, or this caller was cancelled
            task.cancel()
            _abandoned.add(task)
            task.add_done_callback(_abandoned.discard)
    if task not in done:
        raise TimeoutError(f"no answer within {seconds} s")
    return task.result()


async def database_state(pool: Pool) -> str:
    """OK when `SELECT 1` answers within HEALTH_QUERY_TIMEOUT, UNAVAILABLE otherwise."""
    try:
        await answered_within(HEALTH_QUERY_TIMEOUT, pool.fetchval("SELECT 1"))
    except READ_FAILED:
        return UNAVAILABLE
    return OK


def readiness_states(checks: Mapping[str, Callable[[], bool]]) -> dict[str, str]:
    """Each check by its name: "ok" when it holds, "not ready" when it does not."""
    return {name: OK if ready() else NOT_READY for name, ready in checks.items()}


def health_response(report: Mapping[str, str]) -> web.Response:
    """The report as JSON: 200 when every entry is "ok", 503 otherwise (the entries that are not name the cause)."""
    healthy = all(state == OK for state in report.values())
    return web.json_response(dict(report), status=200 if healthy else 503)
