"""What alarmhub's aiohttp servers share: the Prometheus page, and a server log that treats a client's malformed
request as the client's problem (one info line, no traceback) while a fault of ours keeps its traceback."""

from __future__ import annotations

import asyncio
import io
import json
import logging

from aiohttp import web
from aiohttp.http_exceptions import BadHttpMessage
from aiohttp.test_utils import TestClient, TestServer

from shared.http_server import ServerLog, serve_metrics, server_options
from tests.shared.test_logs import json_log, lines

__all__ = ["json_log"]  # the fixture


async def raw_exchange(host: str, port: int, request: bytes) -> bytes:
    """Send bytes no HTTP client would write, read the whole answer."""
    reader, writer = await asyncio.open_connection(host, port)
    try:
        writer.write(request)
        await writer.drain()
        return await asyncio.wait_for(reader.read(), 10)
    finally:
        writer.close()


def status_of(answer: bytes) -> int:
    return int(answer.split(b" ", 2)[1])


async def test_an_8kb_url_is_refused_400_with_one_info_line_that_does_not_quote_the_path(
    json_log: io.StringIO,
) -> None:
    app = web.Application(handler_args=server_options())
    app.router.add_get("/metrics", serve_metrics)
    async with TestServer(app) as server:
        answer = await raw_exchange(server.host, server.port, b"GET /t-secret" + b"a" * 8200 + b" HTTP/1.1\r\n\r\n")
        async with TestClient(server) as client:
            scraped = await client.get("/metrics")
            assert scraped.status == 200 and scraped.content_type == "text/plain"
    assert status_of(answer) == 400
    (refused,) = lines(json_log)  # and no access line: the portal writes its own
    assert (refused["event"], refused["level"], refused["status"]) == ("malformed request refused", "info", 400)
    assert refused["error"] == "LineTooLong" and "exception" not in refused and "t-secret" not in json_log.getvalue()


def test_a_fault_of_ours_still_logs_its_traceback(json_log: io.StringIO) -> None:
    server_log = ServerLog(logging.getLogger("aiohttp.server"))
    try:
        raise RuntimeError("a bug nobody foresaw")
    except RuntimeError:
        server_log.exception("Error handling request from %s", "127.0.0.1")
    server_log.exception("Error handling request from %s", "127.0.0.1", exc_info=BadHttpMessage("bad header"))
    ours, theirs = (json.loads(line) for line in json_log.getvalue().splitlines())
    assert ours["level"] == "error" and "a bug nobody foresaw" in ours["exception"]
    assert (theirs["level"], theirs["peer"], theirs["error"]) == ("info", "127.0.0.1", "BadHttpMessage")
