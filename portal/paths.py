"""Ids in paths, parsed in one place: a path placeholder named `…_id` is a positive 64-bit integer, or the page
is simply not found (never a database error about a number out of range)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
MAX_ID = 2**63 - 1  # PostgreSQL bigint


def parse_id(text: str) -> int | None:
    """A database id written in decimal digits only (no sign, spaces or underscores), within bigint; else None."""
    if not text.isascii() or not text.isdigit() or len(text) > 19:
        return None
    value = int(text)
    return value if 1 <= value <= MAX_ID else None


def is_id_placeholder(name: str) -> bool:
    return name == "id" or name.endswith("_id")


@web.middleware
async def path_ids_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Every `…_id` placeholder of the matched route must hold a valid id before any handler sees it."""
    for name, value in request.match_info.items():
        if is_id_placeholder(name) and parse_id(value) is None:
            raise web.HTTPNotFound()
    return await handler(request)


def path_id(request: web.Request, name: str) -> int:
    """The id in the path placeholder `name` (already checked by path_ids_middleware)."""
    value = parse_id(request.match_info[name])
    if value is None:
        raise web.HTTPNotFound()
    return value
