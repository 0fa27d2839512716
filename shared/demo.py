"""Demo data for a first `make run`: customers, panels (plain and encrypted), signals, confirmed logins; idempotent."""

from __future__ import annotations

from dataclasses import dataclass

from shared.db import Connection
from shared.demo_signals import load_demo_signals
from shared.enrolment import create_customer, create_staff_user


@dataclass(frozen=True, slots=True)
class DemoLogin:
    role: str
    email: str
    password: str
    account: str | None = None


DEMO_PASSWORD = "demo-password-1"
DEMO_CUSTOMERS = (
    # name, e-mail, account, address, DC-09 key, key format, security code
    ("Jordan Avery", "owner@example.com", "1234", "12 Elm Street, Springfield", None, None, "4711"),
    (
        "Harbor Bakery LLC",
        "bakery@example.com",
        "5678",
        "3 Harbor Road, Springfield",
        "000102030405060708090A0B0C0D0E0F",
        "hex",
        "9052",
    ),
    (
        "Riverside Clinic",
        "clinic@example.com",
        "9ABC",
        "80 River Drive, Shelbyville",
        "AjaxKey-16-chars",
        "ascii",
        "3318",
    ),
)
DEMO_STAFF = (("dispatcher@example.com", "dispatcher"), ("admin@example.com", "admin"))


async def load_demo_data(connection: Connection) -> list[DemoLogin]:
    """Create whatever part of the demo set is missing, in one transaction; return every demo login.

    One transaction: a first run stopped half-way must leave no customer behind, or the next run would take the
    database for one in use and never finish the set (staff logins, confirmed addresses) nor print the logins.
    """
    async with connection.transaction():
        return await _load_demo_data(connection)


async def _load_demo_data(connection: Connection) -> list[DemoLogin]:
    logins: list[DemoLogin] = []
    for name, email, account, address, key, key_format, code in DEMO_CUSTOMERS:
        if not await connection.fetchval("SELECT 1 FROM panels WHERE account = $1", account):
            await create_customer(
                connection,
                name=name,
                email=email,
                password=DEMO_PASSWORD,
                account=account,
                address=address,
                dc09_key=key,
                dc09_key_format=key_format,
                security_code=code,
            )
        await load_demo_signals(connection, account, seed=int(account, 16))
        logins.append(DemoLogin("owner", email, DEMO_PASSWORD, account))
    for email, role in DEMO_STAFF:
        if not await connection.fetchval("SELECT 1 FROM users WHERE lower(email) = $1", email):
            await create_staff_user(connection, email=email, password=DEMO_PASSWORD, role=role)
        logins.append(DemoLogin(role, email, DEMO_PASSWORD))
    # No confirmation mail is ever queued for the demo set: its addresses count as confirmed, or the portal would
    # ask the demo owner to open a link that was never sent.
    await connection.execute(
        "UPDATE users SET email_confirmed_at = coalesce(email_confirmed_at, now()) WHERE lower(email) = ANY($1)",
        [login.email.lower() for login in logins],
    )
    return logins


async def has_any_customer(connection: Connection) -> bool:
    return bool(await connection.fetchval("SELECT EXISTS (SELECT 1 FROM customers)"))
