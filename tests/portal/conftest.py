"""Portal fixtures: the app on a real database, two enrolled customers, and a client that fills in CSRF tokens."""

from __future__ import annotations

import io
import logging
import re
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import pytest
import pytest_asyncio
from aiohttp import ClientResponse
from aiohttp.test_utils import TestClient, TestServer
from argon2 import PasswordHasher
from cryptography.fernet import Fernet

import shared.passwords
from portal.app import create_app
from shared.config import Config, load_config
from shared.enrolment import create_customer, create_staff_user
from shared.logs import configure_logging

PASSWORD = "correct horse battery"
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
_LINK = re.compile(r"https?://\S+?(/(?:confirm|password/reset|invitation)/[A-Za-z0-9_-]+)")


def pytest_configure(config: pytest.Config) -> None:
    # aiohttp-session keys the request with strings; the app silences this for production the same way.
    config.addinivalue_line("filterwarnings", "ignore::aiohttp.web_exceptions.NotAppKeyWarning")


@pytest.fixture(autouse=True)
def cheap_password_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    """Argon2id with test-sized cost: the same algorithm and code path, a fraction of the CPU per hash."""
    monkeypatch.setattr(shared.passwords, "_HASHER", PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))


def portal_config(var_dir: Path, **overrides: Any) -> Config:
    environ = {"ALARMHUB_PATHS_VAR_DIR": str(var_dir), "ALARMHUB_PORTAL_SESSION_KEY": Fernet.generate_key().decode()}
    return load_config(None, environ=environ).with_overrides(**overrides)


@pytest.fixture
def config(tmp_path: Path) -> Config:
    return portal_config(tmp_path)


@dataclass(frozen=True)
class Customer:
    customer_id: int
    owner_id: int
    owner_email: str
    site_id: int
    panel_id: int
    account: str
    secondary_id: int
    secondary_email: str
    security_code: str


async def enrol(connection: asyncpg.Connection, tag: str, account: str) -> Customer:
    enrolled = await create_customer(
        connection,
        name=f"Customer {tag}",
        email=f"owner-{tag}@example.com",
        password=PASSWORD,
        account=account,
        address=f"{tag} Street 1",
        security_code=f"{tag}-4711",
    )
    secondary_id = await connection.fetchval(
        "INSERT INTO users (customer_id, email, name, role, password_hash, email_confirmed_at) "
        "VALUES ($1, $2, $3, 'secondary', $4, now()) RETURNING id",
        enrolled.customer_id,
        f"second-{tag}@example.com",
        f"Second {tag}",
        shared.passwords.hash_password(PASSWORD),
    )
    await connection.execute("UPDATE users SET email_confirmed_at = now() WHERE id = $1", enrolled.user_id)
    return Customer(
        enrolled.customer_id,
        enrolled.user_id,
        f"owner-{tag}@example.com",
        enrolled.site_id,
        enrolled.panel_id,
        enrolled.account,
        secondary_id,
        f"second-{tag}@example.com",
        f"{tag}-4711",
    )


async def add_signal(
    connection: asyncpg.Connection,
    customer: Customer,
    *,
    description: str,
    category: str = "alarm",
    code: str = "130",
    zone: str | None = "001",
    sequence: str = "0001",
    user_number: str | None = None,
    minutes_ago: float = 0,
) -> None:
    await connection.execute(
        "INSERT INTO signals (account, panel_id, site_id, customer_id, transport, sequence, format, code, qualifier, "
        "zone, category, priority, description, raw_frame, user_number, received_at) "
        "VALUES ($1, $2, $3, $4, 'tcp', $5, 'ADM-CID', $6, 'event', $7, $8, 2, $9, '\\x00', $10, "
        "now() - make_interval(secs => $11))",
        customer.account,
        customer.panel_id,
        customer.site_id,
        customer.customer_id,
        sequence,
        code,
        zone,
        category,
        description,
        user_number,
        minutes_ago * 60.0,
    )
    await connection.execute(  # as the receiver's housekeeping does after the commit
        "UPDATE panels SET last_signal_at = greatest(last_signal_at, now() - make_interval(secs => $2)) WHERE id = $1",
        customer.panel_id,
        minutes_ago * 60.0,
    )


@pytest_asyncio.fixture
async def customers(db: asyncpg.Pool) -> tuple[Customer, Customer]:
    """Two customers, each with an owner and a secondary user (password PASSWORD) and one signal."""
    async with db.acquire() as connection:
        alpha = await enrol(connection, "alpha", "A1A1")
        beta = await enrol(connection, "beta", "B2B2")
        await add_signal(connection, alpha, description="Burglary alarm at Alpha")
        await add_signal(connection, beta, description="Fire alarm at Beta", sequence="0002")
        await create_staff_user(connection, email="dispatcher@example.com", password=PASSWORD, role="dispatcher")
        await create_staff_user(connection, email="admin@example.com", password=PASSWORD, role="admin")
    return alpha, beta


class Portal:
    """A browser-like client: keeps cookies, reads the CSRF token from the last page, posts forms with it."""

    def __init__(self, client: TestClient[Any, Any]) -> None:
        self.client = client
        self.csrf = ""

    async def get(self, path: str, **kwargs: Any) -> ClientResponse:
        response = await self.client.get(path, **kwargs)
        text = await response.text()
        if match := _CSRF.search(text):
            self.csrf = match.group(1)
        return response

    async def post(
        self, path: str, data: dict[str, Any] | None = None, *, csrf: bool = True, **kw: Any
    ) -> ClientResponse:
        if csrf and not self.csrf:
            await self.get("/login")
        form = {**(data or {}), **({"csrf_token": self.csrf} if csrf else {})}
        response = await self.client.post(path, data=form, **kw)
        text = await response.text()
        if match := _CSRF.search(text):
            self.csrf = match.group(1)
        return response

    async def login(self, email: str, password: str = PASSWORD) -> ClientResponse:
        await self.get("/login")
        response = await self.post("/login", {"email": email, "password": password})
        await self.get("/")  # pick up the new session's CSRF token
        return response

    async def logout(self) -> ClientResponse:
        return await self.post("/logout")


@pytest.fixture
def json_log() -> Iterator[io.StringIO]:
    """Everything the portal logs, as production writes it (JSON lines), at debug level."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    stream = io.StringIO()
    configure_logging("debug", "json", stream=stream)
    try:
        yield stream
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)


@pytest_asyncio.fixture
async def app_client(config: Config, database_url: str) -> AsyncIterator[TestClient[Any, Any]]:
    async with TestClient(TestServer(create_app(config, database_url))) as client:
        yield client


@pytest_asyncio.fixture
async def portal(app_client: TestClient[Any, Any]) -> Portal:
    return Portal(app_client)


@pytest_asyncio.fixture
async def other_portal(app_client: TestClient[Any, Any]) -> AsyncIterator[Portal]:
    """A second browser (its own cookies) on the same server."""
    async with TestClient(app_client.server) as client:
        yield Portal(client)


async def mails_to(db: asyncpg.Pool, recipient: str) -> list[asyncpg.Record]:
    rows: list[asyncpg.Record] = await db.fetch(
        "SELECT * FROM outbox WHERE lower(recipient) = lower($1) ORDER BY id", recipient
    )
    return rows


def link_in(body: str) -> str:
    """The path of the single-use link in a mail body."""
    match = _LINK.search(body)
    assert match, body
    return match.group(1)
