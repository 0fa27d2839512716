"""Enrolment: a customer with its owner, site and panel in one step; staff users; clear refusals."""

from __future__ import annotations

import asyncio

import asyncpg
import pytest

from shared.demo import load_demo_data
from shared.enrolment import add_panel, create_customer, create_staff_user
from shared.errors import Conflict, DomainError
from shared.passwords import verify_password


async def test_create_customer_makes_owner_site_and_panel(db: asyncpg.Pool) -> None:
    async with db.acquire() as connection:
        enrolled = await create_customer(
            connection,
            name="Ada Lovelace",
            email="ada@example.com",
            password="correct horse battery",
            account="ab12",
            address="1 Analytical Way",
            dc09_key="KeyTypedByStaff!",
            dc09_key_format="ascii",
        )
        panel = await connection.fetchrow("SELECT * FROM panels WHERE id = $1", enrolled.panel_id)
        user = await connection.fetchrow("SELECT * FROM users WHERE id = $1", enrolled.user_id)
        site = await connection.fetchrow("SELECT * FROM sites WHERE id = $1", enrolled.site_id)
    assert enrolled.account == "AB12"
    assert panel["account"] == "AB12" and panel["dc09_key"] == b"KeyTypedByStaff!"
    assert panel["dc09_key_format"] == "ascii"
    assert user["role"] == "owner" and user["customer_id"] == enrolled.customer_id
    assert verify_password(user["password_hash"], "correct horse battery")
    assert not verify_password(user["password_hash"], "wrong")
    assert site["address"] == "1 Analytical Way" and site["customer_id"] == enrolled.customer_id


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"account": "12"}, "account"),
        ({"account": "XYZ1"}, "account"),
        ({"email": "not-an-email"}, "email"),
        ({"password": "short"}, "password"),
        ({"dc09_key": "00" * 15, "dc09_key_format": "hex"}, "dc09_key"),
        ({"name": "  "}, "name"),
        ({"name": "Eve\r\nBcc: x@example.com"}, "name"),
        ({"address": "1 Road\x00"}, "address"),
        ({"phone": "555\n0100"}, "phone"),
    ],
)
async def test_bad_input_names_the_field(db: asyncpg.Pool, changes: dict[str, str], field: str) -> None:
    values = {"name": "N", "email": "n@example.com", "password": "long enough password", "account": "1234"}
    async with db.acquire() as connection:
        with pytest.raises(DomainError) as caught:
            await create_customer(connection, **{**values, **changes})  # type: ignore[arg-type]
        assert await connection.fetchval("SELECT count(*) FROM customers") == 0
    assert caught.value.field == field


async def test_an_account_or_email_is_enrolled_once(db: asyncpg.Pool) -> None:
    async with db.acquire() as connection:
        await create_customer(connection, name="A", email="a@example.com", password="long enough pw", account="1234")
        with pytest.raises(Conflict):
            await create_customer(
                connection, name="B", email="b@example.com", password="long enough pw", account="1234"
            )
        with pytest.raises(Conflict):
            await create_customer(
                connection, name="B", email="A@example.com", password="long enough pw", account="5555"
            )
        assert await connection.fetchval("SELECT count(*) FROM customers") == 1


async def test_staff_users(db: asyncpg.Pool) -> None:
    async with db.acquire() as connection:
        user_id = await create_staff_user(
            connection, email="d@example.com", password="dispatch-pass-1", role="dispatcher"
        )
        row = await connection.fetchrow("SELECT role, customer_id FROM users WHERE id = $1", user_id)
        with pytest.raises(DomainError):
            await create_staff_user(connection, email="x@example.com", password="dispatch-pass-1", role="owner")
    assert row["role"] == "dispatcher" and row["customer_id"] is None


async def test_demo_data_is_idempotent(db: asyncpg.Pool) -> None:
    async with db.acquire() as connection:
        first = await load_demo_data(connection)
        signals = await connection.fetchval("SELECT count(*) FROM signals")
        second = await load_demo_data(connection)
        customers = await connection.fetchval("SELECT count(*) FROM customers")
        keyed = await connection.fetchval("SELECT count(*) FROM panels WHERE dc09_key IS NOT NULL")
        categories = await connection.fetch(
            "SELECT DISTINCT category FROM signals WHERE account = '1234' AND customer_id IS NOT NULL"
        )
        assert await connection.fetchval("SELECT count(*) FROM signals") == signals, "loaded once"
        stale = await connection.fetchval(  # the dashboard reads the last signal from the panel
            """SELECT count(*) FROM panels p
                WHERE last_signal_at IS DISTINCT FROM
                      (SELECT max(received_at) FROM signals g WHERE g.panel_id = p.id)"""
        )
    assert first == second
    assert customers == 3 and keyed == 2 and stale == 0
    assert {row["category"] for row in categories} == {"alarm", "open_close", "power", "test"}


async def test_creating_one_staff_login_twice_at_once_is_a_conflict(database_url: str) -> None:
    pool = await asyncpg.create_pool(database_url, min_size=2, max_size=2)
    try:

        async def create() -> int:
            async with pool.acquire() as connection:
                return await create_staff_user(
                    connection, email="twice@example.com", password="dispatch-pass-1", role="dispatcher"
                )

        results = await asyncio.gather(create(), create(), return_exceptions=True)
    finally:
        await pool.close()
    assert sorted(type(r).__name__ for r in results) == ["Conflict", "int"], results


async def test_panels_are_enrolled_with_what_they_are_monitored_for(db: asyncpg.Pool) -> None:
    async with db.acquire() as connection:
        enrolled = await create_customer(
            connection,
            name="Monitored",
            email="monitored@example.com",
            password=None,
            account="D00D",
            monitored_services=["fire", " Burglary ", "fire", ""],
        )
        other = await add_panel(connection, site_id=enrolled.site_id, account="D00E", monitored_services=["co"])
        plain = await add_panel(connection, site_id=enrolled.site_id, account="D00F")
        services = dict(await connection.fetch("SELECT id, monitored_services FROM panels"))
    # Each once, in the catalogue's order, whatever order and case they came in.
    assert services == {enrolled.panel_id: ["burglary", "fire"], other: ["co"], plain: []}


async def test_an_unknown_monitored_service_is_refused_by_its_field(db: asyncpg.Pool) -> None:
    async with db.acquire() as connection:
        with pytest.raises(DomainError) as caught:
            await create_customer(
                connection,
                name="N",
                email="n@example.com",
                password=None,
                account="1234",
                monitored_services=["fire", "tamper"],
            )
        assert await connection.fetchval("SELECT count(*) FROM customers") == 0
        enrolled = await create_customer(connection, name="N", email="n@example.com", password=None, account="1234")
        with pytest.raises(DomainError) as on_add:
            await add_panel(connection, site_id=enrolled.site_id, account="1235", monitored_services=["unicorns"])
        assert await connection.fetchval("SELECT count(*) FROM panels") == 1
    assert caught.value.field == on_add.value.field == "monitored_services"
    assert "'tamper'" in caught.value.message and "burglary" in caught.value.message
