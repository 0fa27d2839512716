"""PostgreSQL stopped under a running portal: a clear "temporarily unavailable" answer meanwhile (a page, JSON under
/api/), no stack trace on the page or in the log, and the portal serves again by itself once the database is back."""

from __future__ import annotations

import asyncio
import io
import json
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from aiohttp.test_utils import TestClient, TestServer

from bench.postgres_restart import start_again
from portal.app import create_app
from portal.console.views import hub_key
from shared.api_tokens import create_api_token
from shared.migrations import migrate
from tests.portal.conftest import Portal, enrol, portal_config

pytestmark = pytest.mark.slow


async def _pg_ctl(server: Any, *args: str) -> None:
    from pgserver._commands import pg_ctl

    await asyncio.to_thread(pg_ctl, ["-w", *args], pgdata=server.pgdata, user=server.system_user)


def lines_of(stream: io.StringIO, start: int) -> list[dict[str, object]]:
    return [json.loads(line) for line in stream.getvalue()[start:].splitlines() if line.startswith("{")]


async def test_the_portal_says_temporarily_unavailable_while_postgresql_is_down_and_recovers(
    tmp_path: Path, json_log: io.StringIO
) -> None:
    import pgserver

    server = pgserver.get_server(tmp_path / "pgdata", cleanup_mode="delete")  # type: ignore[attr-defined]
    url = server.get_uri()
    try:
        connection = await asyncpg.connect(url)
        try:
            await migrate(connection)
            customer = await enrol(connection, "outage", "0A0A")
            token = await create_api_token(connection, name="cad", role="dispatcher")
        finally:
            await connection.close()
        config = portal_config(tmp_path / "var")
        async with TestClient(TestServer(create_app(config, url))) as client:
            portal = Portal(client)
            await portal.login(customer.owner_email)
            assert (await portal.get("/signals")).status == 200
            api = {"Authorization": f"Bearer {token.secret}"}
            assert (await client.get("/api/v1/incidents", headers=api)).status == 200

            await _pg_ctl(server, "-m", "fast", "stop")
            start = len(json_log.getvalue())
            for path in ("/signals", "/account", "/"):
                page = await portal.get(path)
                body = await page.text()
                assert page.status == 503, (path, page.status)
                assert "temporarily unavailable" in body, body
                assert "Traceback" not in body and "asyncpg" not in body
                assert page.headers.get("Retry-After")
            answer = await client.get("/api/v1/incidents", headers=api)
            assert answer.status == 503
            assert "temporarily unavailable" in (await answer.json())["error"]
            logged = lines_of(json_log, start)
            said = [line for line in logged if line["event"] == "database unavailable; answering 503"]
            assert len(said) == 1 and said[0]["level"] == "warning", said  # once, not once per request
            ours = [line for line in logged if not str(line.get("logger", "")).startswith("asyncpg")]
            assert not [line for line in ours if "exception" in line], "a stack trace per request while it is down"
            answered = [line for line in logged if line["event"] == "request" and line["status"] == 503]
            assert len(answered) == 4 and {line["level"] for line in answered} == {"warning"}

            await start_again(server)
            for _ in range(100):  # the pools reconnect on their own; nothing is restarted
                if (await portal.get("/signals")).status == 200:
                    break
                await asyncio.sleep(0.1)
            else:
                raise AssertionError("the portal did not serve again after PostgreSQL came back")
            assert (await client.get("/api/v1/incidents", headers=api)).status == 200
            hub = client.app[hub_key]
            async with asyncio.timeout(30):  # the console's listener is back too (its backoff is at most 10 s)
                await hub.listener.connected.wait()
    finally:
        server.cleanup()
