"""What alarmhub's aiohttp servers (portal, a receiver's /metrics) share: the Prometheus page and the server log."""

from __future__ import annotations

import logging
import sys
from collections.abc import Mapping
from typing import Any

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest

from shared.logs import get_logger

log = get_logger("aiohttp.server")


def metrics_response() -> web.Response:
    """Everything this process measures, as Prometheus text (inside `alarmhub run`: portal and receiver alike)."""
    response = web.Response(body=generate_latest(REGISTRY))
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
