"""Logs a person can follow: one access line per request, a request id on every line and every answer, headers on
streamed answers too, and a client's malformed request logged as the client's problem."""

from __future__ import annotations

import io
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from portal.app import create_app
from portal.auth.access import Access, access
from shared.logs import get_logger
from tests.portal.conftest import Customer, Portal, portal_config
from tests.shared.test_http_server import raw_exchange, status_of
from tests.shared.test_logs import json_log, lines

__all__ = ["json_log"]  # the fixture, shared with the logging tests of shared/

SECURITY_HEADERS = ("Content-Security-Policy", "X-Content-Type-Options", "X-Frame-Options", "Referrer-Policy")
GENERATED_ID = re.compile(r"[0-9a-f]{32}")
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def requests_logged(stream: io.StringIO) -> list[dict[str, Any]]:
    return [line for line in lines(stream) if line["event"] == "request"]


@asynccontextmanager
async def portal_with(
    tmp_path: Path, database_url: str, path: str, handler: Handler
) -> AsyncIterator[TestClient[Any, Any]]:
    """The portal as create_app builds it, plus one test-only route."""
    app = create_app(portal_config(tmp_path), database_url)
    app.router.add_get(path, handler)
    async with TestClient(TestServer(app)) as client:
        yield client


@access(Access.PUBLIC)
async def streamed_csv(request: web.Request) -> web.StreamResponse:
    """As a CSV or PDF download does: the headers leave at prepare(), before any middleware sees the response."""
    response = web.StreamResponse(headers={"Content-Type": "text/csv"})
    await response.prepare(request)
    get_logger("tests.portal").info("streaming rows")
    await response.write(b"time,code\n")
    await response.write_eof()
    return response


@access(Access.PUBLIC)
async def broken(request: web.Request) -> web.Response:
    raise RuntimeError("a bug nobody foresaw")


async def test_a_streamed_answer_carries_the_security_headers_and_the_request_id(
    database_url: str, tmp_path: Path, json_log: io.StringIO
) -> None:
    async with portal_with(tmp_path, database_url, "/test-only/export.csv", streamed_csv) as client:
        response = await client.get("/test-only/export.csv", headers={"X-Request-ID": "export-7"})
        assert response.status == 200 and await response.text() == "time,code\n"
    for name in SECURITY_HEADERS:
        assert name in response.headers, name
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["X-Request-ID"] == "export-7"
    streaming = next(line for line in lines(json_log) if line["event"] == "streaming rows")
    assert streaming["request_id"] == "export-7"
    (logged,) = requests_logged(json_log)
    assert logged["route"] == "/test-only/export.csv" and logged["status"] == 200


async def test_one_access_line_per_request_with_the_route_pattern_never_the_path(
    portal: Portal, json_log: io.StringIO
) -> None:
    token = "single-use-secret-Zq81"
    response = await portal.client.get(f"/confirm/{token}", headers={"X-Request-ID": "abc.DEF:12-3_z"})
    (logged,) = requests_logged(json_log)
    assert logged["method"] == "GET"
    assert logged["route"] == "/confirm/{token}"
    assert logged["status"] == response.status
    assert logged["request_id"] == response.headers["X-Request-ID"] == "abc.DEF:12-3_z"
    assert logged["client"] == "127.0.0.1"
    assert isinstance(logged["duration_ms"], float) and logged["duration_ms"] >= 0
    assert logged["level"] == "info" and "user_id" not in logged
    assert token not in json_log.getvalue()  # paths carry single-use tokens: they never reach the log


async def test_the_user_id_of_a_logged_in_viewer_is_logged(
    portal: Portal, customers: tuple[Customer, Customer], json_log: io.StringIO
) -> None:
    alpha, _ = customers
    await portal.login(alpha.owner_email)
    before = len(requests_logged(json_log))
    response = await portal.client.get("/dashboard")
    assert response.status == 200
    logged = requests_logged(json_log)[before:]
    assert [(line["route"], line["user_id"]) for line in logged] == [("/dashboard", alpha.owner_id)]
    assert logged[0]["bytes"] == len(await response.read())


@pytest.mark.parametrize(
    "incoming",
    [
        "x" * 129,  # too long
        "has space",
        "semi;colon",
        "<script>",
        "a/b",
        "",
    ],
)
async def test_an_insane_request_id_is_replaced(portal: Portal, json_log: io.StringIO, incoming: str) -> None:
    response = await portal.client.get("/login", headers={"X-Request-ID": incoming})
    generated = response.headers["X-Request-ID"]
    assert GENERATED_ID.fullmatch(generated)
    assert requests_logged(json_log)[-1]["request_id"] == generated


async def test_a_request_id_of_128_sane_characters_is_kept(portal: Portal) -> None:
    incoming = "a1._:-" * 21 + "zz"
    assert len(incoming) == 128
    response = await portal.client.get("/login", headers={"X-Request-ID": incoming})
    assert response.headers["X-Request-ID"] == incoming


async def test_errors_and_redirects_echo_the_request_id(portal: Portal, json_log: io.StringIO) -> None:
    missing = await portal.client.get("/no-such-page", headers={"X-Request-ID": "lost-1"})
    assert missing.status == 404 and missing.headers["X-Request-ID"] == "lost-1"
    redirect = await portal.client.get("/dashboard", headers={"X-Request-ID": "away-2"}, allow_redirects=False)
    assert redirect.status in (302, 303) and redirect.headers["X-Request-ID"] == "away-2"
    for name in SECURITY_HEADERS:
        assert name in redirect.headers and name in missing.headers
    api = await portal.client.get("/api/v1/nothing")
    assert GENERATED_ID.fullmatch(api.headers["X-Request-ID"])
    statuses = {
        line["request_id"]: (line["status"], line["level"], line["route"]) for line in requests_logged(json_log)
    }
    assert statuses["lost-1"] == (404, "info", None)  # a 4xx is the client's business: info
    assert statuses["away-2"][:2] == (redirect.status, "info")


async def test_a_failing_request_logs_its_traceback_once_and_an_error_access_line_with_the_same_id(
    database_url: str, tmp_path: Path, json_log: io.StringIO
) -> None:
    async with portal_with(tmp_path, database_url, "/test-only/broken", broken) as client:
        response = await client.get("/test-only/broken", headers={"X-Request-ID": "bug-3"})
        assert response.status == 500 and response.headers["X-Request-ID"] == "bug-3"
    logged = lines(json_log)
    failed = [line for line in logged if line["event"] == "request failed"]
    assert len(failed) == 1 and "a bug nobody foresaw" in failed[0]["exception"]
    (access_line,) = requests_logged(json_log)
    assert access_line["level"] == "error" and access_line["status"] == 500 and "exception" not in access_line
    assert failed[0]["request_id"] == access_line["request_id"] == "bug-3"


async def test_the_client_address_is_the_one_a_trusted_proxy_names(
    database_url: str, tmp_path: Path, json_log: io.StringIO
) -> None:
    app = create_app(portal_config(tmp_path, portal__trusted_proxies="127.0.0.1/32"), database_url)
    async with TestClient(TestServer(app)) as client:
        await client.get("/login", headers={"X-Forwarded-For": "203.0.113.9"})
    (logged,) = requests_logged(json_log)
    assert logged["client"] == "203.0.113.9"


async def test_an_8kb_url_is_answered_400_and_logged_as_one_line_without_a_traceback(
    database_url: str, tmp_path: Path, json_log: io.StringIO
) -> None:
    async with TestServer(create_app(portal_config(tmp_path), database_url)) as server:
        request = b"GET /confirm/secret-" + b"a" * 8200 + b" HTTP/1.1\r\nHost: portal\r\n\r\n"
        answer = await raw_exchange(server.host, server.port, request)
    assert status_of(answer) == 400
    # The console hub's listener logs its start and stop beside the request (shared.events, shared.signal_cursor).
    background = {"shared.events", "shared.signal_cursor"}
    logged = [line for line in lines(json_log) if line.get("logger") not in background]
    assert [(line["event"], line["level"]) for line in logged] == [("malformed request refused", "info")]
    (refused,) = logged
    assert refused["status"] == 400 and refused["error"] == "LineTooLong" and refused["peer"] == "127.0.0.1"
    assert "exception" not in refused and "secret-" not in json_log.getvalue()
