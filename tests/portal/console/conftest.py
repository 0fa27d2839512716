"""Console fixtures: the portal with quick session checks, logged-in consoles on real websockets, and signals and
incidents written the way the receiver and the incident opener write them (rows and NOTIFY in one transaction)."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import asyncpg
import pytest
import pytest_asyncio
from aiohttp import ClientWebSocketResponse, WSMsgType
from aiohttp.test_utils import TestClient

from portal.console.hub import ConsoleHub
from portal.console.views import hub_key
from shared.config import Config
from shared.events import INCIDENTS, SIGNALS, IncidentsChanged, SignalsCommitted, notify
from tests.portal.conftest import Customer, Portal, portal_config


@pytest.fixture
def config(tmp_path: Path) -> Config:
    return portal_config(tmp_path, dispatch__session_recheck=0.5)


def hub_of(client: TestClient[Any, Any]) -> ConsoleHub:
    return client.server.app[hub_key]


async def logged_in(client: TestClient[Any, Any], email: str) -> Portal:
    portal = Portal(client)
    await portal.login(email)
    return portal


@pytest_asyncio.fixture
async def dispatcher(app_client: TestClient[Any, Any], customers: tuple[Customer, Customer]) -> Portal:
    return await logged_in(app_client, "dispatcher@example.com")


@pytest_asyncio.fixture
async def admin(other_portal: Portal, customers: tuple[Customer, Customer]) -> Portal:
    await other_portal.login("admin@example.com")
    return other_portal


class Console:
    """A dispatcher's open console, as the browser reads it: frames of one or more JSON messages, one per line."""

    def __init__(self, ws: ClientWebSocketResponse) -> None:
        self.ws = ws
        self.received: list[dict[str, Any]] = []
        self.close_code: int | None = None
        self._read = 0

    async def _more(self, timeout: float) -> None:
        message = await self.ws.receive(timeout=timeout)
        if message.type in (WSMsgType.CLOSE, WSMsgType.CLOSED, WSMsgType.CLOSING, WSMsgType.ERROR):
            self.close_code = self.ws.close_code
            raise ConnectionError(f"console closed: {self.ws.close_code}")
        assert message.type is WSMsgType.TEXT, message
        self.received += [json.loads(line) for line in message.data.split("\n")]

    async def next(self, kind: str, timeout: float = 5.0) -> dict[str, Any]:
        """The next message of `kind` not read yet (earlier ones of other kinds are passed over)."""
        deadline = time.monotonic() + timeout
        while True:
            while self._read < len(self.received):
                message = self.received[self._read]
                self._read += 1
                if message["type"] == kind:
                    return message
            await self._more(max(0.01, deadline - time.monotonic()))

    async def queue_where(self, wanted: Callable[[dict[str, Any]], bool], timeout: float = 5.0) -> dict[str, Any]:
        """The next queue message that shows `wanted`, passing over those sent before the change arrived (the hub
        sends one after its listener (re)connects, which may cross a change the test has just made)."""
        deadline = time.monotonic() + timeout
        while not wanted(message := await self.next("queue", max(0.01, deadline - time.monotonic()))):
            pass
        return message

    async def signals(self, ids: list[int], timeout: float = 5.0) -> list[dict[str, Any]]:
        """As many signal messages as `ids` names, passing over signals older than the first of them (the
        fixtures' own, which the hub may still be sending when a test starts)."""
        deadline = time.monotonic() + timeout
        found: list[dict[str, Any]] = []
        while len(found) < len(ids):
            message = await self.next("signal", max(0.01, deadline - time.monotonic()))
            if message["signal"]["id"] >= ids[0]:
                found.append(message)
        return found

    async def closed(self, timeout: float = 5.0) -> int | None:
        """Read until the server closes the socket; its close code."""
        deadline = time.monotonic() + timeout
        try:
            while True:
                await self._more(max(0.01, deadline - time.monotonic()))
        except ConnectionError:
            return self.close_code


@pytest_asyncio.fixture
async def open_console() -> AsyncIterator[Any]:
    opened: list[ClientWebSocketResponse] = []

    async def connect(portal: Portal, after: str | None = None) -> Console:
        path = "/dispatch/live" + (f"?after={after}" if after is not None else "")
        ws = await portal.client.ws_connect(path)
        opened.append(ws)
        return Console(ws)

    yield connect
    for ws in opened:
        await ws.close()


async def wait_until(predicate: Any, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError("condition not met in time")
        await asyncio.sleep(0.02)


async def insert_signals(
    db: asyncpg.Pool,
    customer: Customer | None,
    count: int = 1,
    *,
    description: str = "Burglary alarm",
    category: str = "alarm",
    account: str | None = None,
) -> list[int]:
    """`count` signals committed in one transaction with the receiver's NOTIFY; their ids."""
    async with db.acquire() as connection, connection.transaction():
        ids: list[int] = [
            row["id"]
            for row in await connection.fetch(
                "INSERT INTO signals (account, panel_id, site_id, customer_id, transport, sequence, format, code, "
                "qualifier, zone, category, alarm_type, priority, description, raw_frame) "
                "SELECT $1, $2, $3, $4, 'tcp', lpad((n % 10000)::text, 4, '0'), 'ADM-CID', '130', 'event', '001', $5, "
                "CASE WHEN $5 = 'alarm' THEN 'burglary' END, 3, $6 || CASE WHEN $7 > 1 THEN ' ' || n ELSE '' END, "
                "'\\x00' FROM generate_series(1, $7) AS n ORDER BY n RETURNING id",
                account if account is not None else customer.account if customer else "FFFF",
                customer.panel_id if customer else None,
                customer.site_id if customer else None,
                customer.customer_id if customer else None,
                category,
                description,
                count,
            )
        ]
        await notify(connection, SIGNALS, SignalsCommitted(ids[0], ids[-1], len(ids)))
    return ids


async def open_incident(
    db: asyncpg.Pool,
    customer: Customer | None,
    *,
    title: str = "Burglary alarm",
    priority: int = 3,
    kind: str = "alarm",
    account: str | None = None,
    minutes_ago: float = 0,
    held_seconds: float | None = None,
    holder_id: int | None = None,
) -> int:
    """An incident as the opener writes it: its row, its first signal, its audit entry and the NOTIFY, at once."""
    account = account if account is not None else customer.account if customer else "FFFF"
    signal_id = (await insert_signals(db, customer, description=title, account=account))[0]
    async with db.acquire() as connection, connection.transaction():
        incident_id: int = await connection.fetchval(
            "INSERT INTO incidents (kind, account, panel_id, site_id, customer_id, premises_key, priority, alarm_type, "
            "title, opened_at, first_signal_id, last_signal_at, holder_id, taken_at, held_until) "
            "VALUES ($1, $2, $3, $4, $5, $6, $7, CASE WHEN $1 = 'alarm' THEN 'burglary' END, $8, "
            "now() - make_interval(secs => $9), $10, now(), $11::bigint, "
            "CASE WHEN $11::bigint IS NOT NULL THEN now() END, now() + make_interval(secs => $12::float8)) "
            "RETURNING id",
            kind,
            account,
            customer.panel_id if customer else None,
            customer.site_id if customer else None,
            customer.customer_id if customer else None,
            f"site:{customer.site_id}" if customer and kind != "unknown_account" else f"account:{account}",
            priority,
            title,
            minutes_ago * 60.0,
            signal_id,
            holder_id,
            held_seconds,
        )
        await connection.execute(
            "INSERT INTO incident_signals (incident_id, signal_id, received_at, role) VALUES ($1, $2, now(), 'opened')",
            incident_id,
            signal_id,
        )
        await connection.execute("INSERT INTO incident_actions (incident_id, kind) VALUES ($1, 'opened')", incident_id)
        await notify(connection, INCIDENTS, IncidentsChanged((incident_id,)))
    return incident_id
