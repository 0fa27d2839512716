"""Demo data (its password is published) reaches only a new embedded database or one whose operator asks for it;
its owners are confirmed, so the portal never asks them to open a link that was never sent."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import asyncpg
import pytest
from aiohttp.test_utils import TestClient, TestServer
from argon2 import PasswordHasher

import shared.passwords
from alarmhub.cli import build_parser
from alarmhub.run import demo_data_for_run
from portal.app import create_app
from shared.config import Config
from shared.demo import DEMO_PASSWORD
from shared.embedded_postgres import embedded_pgdata, run_before
from tests.portal.conftest import Portal, portal_config


@pytest.fixture(autouse=True)
def cheap_password_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(shared.passwords, "_HASHER", PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))


def configured(tmp_path: Path, database_url: str, **overrides: Any) -> Config:
    return portal_config(tmp_path / "var", database__url=database_url, **overrides)


def embedded(tmp_path: Path) -> Config:
    """The configuration of the embedded path; the test passes its own database's URL as the one resolved."""
    config = portal_config(tmp_path / "var")
    embedded_pgdata(config).mkdir(parents=True)
    return config


async def customers(db: asyncpg.Pool) -> int:
    count: int = await db.fetchval("SELECT count(*) FROM customers")
    return count


async def test_a_configured_database_never_gets_demo_data_unasked(
    db: asyncpg.Pool, database_url: str, tmp_path: Path
) -> None:
    logins, note = await demo_data_for_run(configured(tmp_path, database_url), database_url, asked=False)
    assert logins == [] and await customers(db) == 0
    assert note is not None and "--demo" in note and "run.demo_data" in note


async def test_a_configured_database_gets_demo_data_when_asked(
    db: asyncpg.Pool, database_url: str, tmp_path: Path
) -> None:
    logins, note = await demo_data_for_run(configured(tmp_path, database_url), database_url, asked=True)
    assert {login.email for login in logins} >= {"owner@example.com", "admin@example.com"} and note is None
    assert await customers(db) == 3


async def test_run_demo_data_true_loads_it_into_a_configured_database(
    db: asyncpg.Pool, database_url: str, tmp_path: Path
) -> None:
    config = configured(tmp_path, database_url, run__demo_data="true")
    logins, _ = await demo_data_for_run(config, database_url, asked=False)
    assert logins and await customers(db) == 3


def test_alarmhub_run_takes_demo() -> None:
    assert build_parser().parse_args(["run", "--demo"]).demo is True
    assert build_parser().parse_args(["run"]).demo is False


async def test_an_embedded_database_gets_demo_data_on_its_first_run_only(
    db: asyncpg.Pool, database_url: str, tmp_path: Path
) -> None:
    config = embedded(tmp_path)
    logins, _ = await demo_data_for_run(config, database_url, asked=False)
    assert logins and await customers(db) == 3 and run_before(config)
    # A customer with invoices cannot be deleted (the ledger keeps them: ON DELETE RESTRICT); one without can.
    with pytest.raises(asyncpg.ForeignKeyViolationError):
        await db.execute("DELETE FROM customers WHERE name = 'Jordan Avery'")
    await db.execute("DELETE FROM customers WHERE name = 'Riverside Clinic'")  # its owner removed them on purpose
    logins, _ = await demo_data_for_run(config, database_url, asked=False)
    assert logins == [] and await customers(db) == 2, "a later start leaves the data as its owner left it"


async def test_an_embedded_database_that_has_customers_is_not_given_demo_data(
    db: asyncpg.Pool, database_url: str, tmp_path: Path
) -> None:
    await db.execute("INSERT INTO customers (name, email) VALUES ('Real Customer', 'real@example.net')")
    config = embedded(tmp_path)  # started before this release, which marks the first run
    logins, note = await demo_data_for_run(config, database_url, asked=False)
    assert logins == [] and note is None and await customers(db) == 1 and run_before(config)


async def test_a_demo_owner_is_not_asked_to_open_a_link_nobody_sent(
    db: asyncpg.Pool, database_url: str, tmp_path: Path
) -> None:
    config = configured(tmp_path, database_url)
    await demo_data_for_run(config, database_url, asked=True)
    assert await db.fetchval("SELECT count(*) FROM outbox") == 0, "the demo set queues no mail"
    async with TestClient(TestServer(create_app(config, database_url))) as client:
        portal = Portal(client)
        await portal.login("owner@example.com", DEMO_PASSWORD)
        page = await (await portal.get("/")).text()
    assert "Jordan Avery" in page, "logged in and on the dashboard"
    assert "link we sent you" not in page and "Send the link again" not in page


async def test_a_demo_load_stopped_half_way_leaves_nothing_behind(
    db: asyncpg.Pool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Else the next first run would find customers, take the database for one in use, and never finish the set."""
    import shared.demo

    real = shared.demo.load_demo_signals
    calls = 0

    async def stopped_on_the_second_panel(*args: Any, **kwargs: Any) -> None:
        nonlocal calls
        calls += 1
        if calls == 2:
            raise RuntimeError("stopped half-way")
        await real(*args, **kwargs)

    monkeypatch.setattr(shared.demo, "load_demo_signals", stopped_on_the_second_panel)
    async with db.acquire() as connection:
        with pytest.raises(RuntimeError, match="half-way"):
            await shared.demo.load_demo_data(connection)
    assert await db.fetchval("SELECT count(*) FROM customers") == 0
    assert await db.fetchval("SELECT count(*) FROM signals") == 0
