"""What alarmhub's aiohttp servers (portal, a receiver's or a worker's /metrics and /healthz) share: the Prometheus
page, the server log, and the small listener a standalone receiver or worker opens."""

from __future__ import annotations

import logging
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from typing import Any

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest

from shared.logs import get_logger

log = get_logger("aiohttp.server")
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def metrics_response(*own: CollectorRegistry) -> web.Response:
    """Everything this process measures, as Prometheus text (inside `alarmhub run`: portal and receiver alike),
    followed by the `own` registries of the part serving it (a worker's jobs and outbox)."""
    response = web.Response(body=b"".join(generate_latest(registry) for registry in (REGISTRY, *own)))
    response.content_type = CONTENT_TYPE_LATEST.split(";")[0]
    return response


async def serve_metrics(_: web.Request) -> web.Response:
    return metrics_response()


class ServerLog(logging.LoggerAdapter[logging.Logger]):
    """aiohttp's server log, except that a request the client malformed (an 8 KB URL, a broken header line) is
    one info line without a traceback: aiohttp answers it 400 and logs it as an error of ours otherwise. The
    parser's message is left out on purpose: it quotes the start of the request line, and paths carry tokens."""

    def exception(self, msg: object, *args: object, exc_info: Any = True, **kwargs: Any) -> None:
        error = exc_info if isinstance(exc_info, BaseException) else sys.exc_info()[1]
        if isinstance(error, HttpProcessingError) and 400 <= error.code < 500:
            # aiohttp's message is "Error handling request from %s" with the peer as its one argument
            peer = args[0] if len(args) == 1 and isinstance(args[0], str) else None
            log.info("malformed request refused", status=error.code, error=type(error).__name__, peer=peer)
            return
        super().exception(msg, *args, exc_info=exc_info, **kwargs)


def server_options() -> Mapping[str, Any]:
    """Arguments for aiohttp's request handler (an Application's `handler_args`): our server log, and no access
    log of aiohttp's own (the portal writes its own, one JSON line per request)."""
    return {"logger": ServerLog(logging.getLogger("aiohttp.server")), "access_log": None}


@asynccontextmanager
async def small_server(listen: tuple[str, int], routes: Mapping[str, Handler]) -> AsyncIterator[str]:
    """Answer GET on each of `routes` (path: handler) at `listen` (HOST, PORT) until the block exits; yields the
    base URL (`http://HOST:PORT`). For a standalone receiver's or worker's /metrics and /healthz: no access
    control, so it belongs on a private address."""
    app = web.Application(handler_args=server_options())
    for path, handler in routes.items():
        app.router.add_get(path, handler)
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    try:
        await web.TCPSite(runner, *listen).start()
        yield f"http://{listen[0]}:{listen[1]}"
    finally:
        await runner.cleanup()
