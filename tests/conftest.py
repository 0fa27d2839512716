"""Test fixtures: a real PostgreSQL (configured or embedded) with a migrated template, and a real MQTT broker."""

from __future__ import annotations

import asyncio
import os
import socket
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest
import pytest_asyncio

from shared.db import create_pool
from shared.migrations import migrate

REPO = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def with_database(url: str, name: str) -> str:
    """The same server URL pointing at database `name` (works for TCP and unix-socket URLs)."""
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{name}"))


@pytest.fixture(scope="session")
def postgres_server_url() -> Iterator[str]:
    """A server the tests may create databases on: ALARMHUB_TEST_DATABASE_URL, or an embedded one."""
    configured = os.environ.get("ALARMHUB_TEST_DATABASE_URL")
    if configured:
        yield configured
        return
    import pgserver

    with tempfile.TemporaryDirectory(prefix="alarmhub-pg-") as directory:
        server = pgserver.get_server(Path(directory) / "pgdata", cleanup_mode="delete")
        yield server.get_uri()
        server.cleanup()


@pytest_asyncio.fixture(scope="session")
async def template_database(postgres_server_url: str) -> AsyncIterator[str]:
    """A database migrated once per session; each test's database is a copy of it."""
    name = f"alarmhub_template_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(postgres_server_url)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
        connection = await asyncpg.connect(with_database(postgres_server_url, name))
        try:
            await migrate(connection)
        finally:
            await connection.close()
        yield name
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


@pytest_asyncio.fixture
async def database_url(postgres_server_url: str, template_database: str) -> AsyncIterator[str]:
    """A fresh, migrated database of this test's own, dropped afterwards."""
    name = f"alarmhub_test_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(postgres_server_url)
    try:
        await admin.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template_database}"')
        yield with_database(postgres_server_url, name)
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


@asynccontextmanager
async def scratch_database(server_url: str, purpose: str, *, template: str | None = None) -> AsyncIterator[str]:
    """A database with no schema (copied from `template`, if given) for one test; dropped afterwards."""
    name = f"alarmhub_{purpose}_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(server_url)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if template else ""))
        yield with_database(server_url, name)
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


@pytest_asyncio.fixture
async def empty_database_url(postgres_server_url: str) -> AsyncIterator[str]:
    """A database with no schema at all, for migration tests."""
    async with scratch_database(postgres_server_url, "empty") as url:
        yield url


@pytest_asyncio.fixture
async def db(database_url: str) -> AsyncIterator[asyncpg.Pool]:
    """A pool on this test's own database."""
    pool = await create_pool(database_url, min_size=1, max_size=4)
    yield pool
    await pool.close()


@pytest_asyncio.fixture(scope="session")
async def mqtt_url() -> AsyncIterator[str]:
    """A real MQTT broker: ALARMHUB_TEST_MQTT_URL, or an embedded amqtt broker on a free port."""
    configured = os.environ.get("ALARMHUB_TEST_MQTT_URL")
    if configured:
        yield configured
        return
    from shared.embedded_mqtt import embedded_broker

    async with embedded_broker("127.0.0.1", free_port()) as url:
        await asyncio.sleep(0)
        yield url


def _is_billing_test(node: pytest.Item) -> bool:
    return "billing" in node.nodeid or node.get_closest_marker("billing_secrets") is not None


@pytest.fixture(autouse=True)
def billing_secrets_scan(request: pytest.FixtureRequest) -> Iterator[None]:
    """Every billing test runs with debug logging captured; afterwards its logs and its whole database (tables,
    outbox, PDF attachments) are scanned for card numbers, bank account numbers and security codes
    (tests/secrets_scan.py). The issue's promise — they never reach a table, a log line or an e-mail — is checked on
    everything the billing suite does, not on one hand-picked flow.

    A plain fixture: asking for `database_url` from inside a running loop is refused, and the scan runs on a loop
    of its own in a thread, apart from the tests' session loop.
    """
    if not _is_billing_test(request.node):
        yield
        return
    from tests.secrets_scan import database_findings, debug_json_logs, log_findings

    url = request.getfixturevalue("database_url") if "database_url" in request.fixturenames else None
    with debug_json_logs() as stream:
        yield
    findings = log_findings(stream.getvalue())
    if url is not None:
        with ThreadPoolExecutor(max_workers=1) as thread:
            findings += thread.submit(asyncio.run, database_findings(url)).result()
    assert not findings, "secrets leaked:\n" + "\n".join(findings)
