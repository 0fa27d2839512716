"""Enrolment: creating customers with their owner login, site and panel, and staff users."""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass

import asyncpg

from shared.db import Connection
from shared.dc09_keys import InvalidKeyError, parse_dc09_key
from shared.errors import Conflict, DomainError, NotFound
from shared.fields import normalise_email, single_line
from shared.password_policy import check_password
from shared.passwords import hash_password
from shared.roles import STAFF_ROLES
from shared.users import insert_owner

_ACCOUNT = re.compile(r"^[0-9A-Fa-f]{3,16}$")
MIN_TEST_INTERVAL_HOURS = 1 / 60
MAX_TEST_INTERVAL_HOURS = 31 * 24


@dataclass(frozen=True, slots=True)
class EnrolledCustomer:
    customer_id: int
    user_id: int
    site_id: int
    panel_id: int
    account: str


def normalise_account(account: str) -> str:
    """Account numbers are 3-16 hex digits; stored and compared upper-case."""
    account = account.strip().lstrip("#")
    if not _ACCOUNT.match(account):
        raise DomainError("an account number has 3 to 16 digits 0-9 or A-F", field="account")
    return account.upper()


def _key(dc09_key: str | None, key_format: str | None) -> tuple[bytes | None, str | None]:
    if not dc09_key:
        return None, None
    try:
        return parse_dc09_key(dc09_key, key_format or "hex"), key_format or "hex"
    except InvalidKeyError as error:
        raise DomainError(str(error), field="dc09_key") from None


async def create_customer(
    connection: Connection,
    *,
    name: str,
    email: str,
    password: str | None,
    account: str,
    address: str = "",
    dc09_key: str | None = None,
    dc09_key_format: str | None = None,
    test_interval_hours: float = 24,
    security_code: str = "",
    phone: str = "",
) -> EnrolledCustomer:
    """One transaction: the customer, its owner login, its monitored site and the panel with its account."""
    name = single_line(name, field="name", missing="enter the customer's name")
    address, phone = single_line(address, field="address"), single_line(phone, field="phone")
    security_code = single_line(security_code, field="security_code")
    email = normalise_email(email)
    account = normalise_account(account)
    key, key_format = _key(dc09_key, dc09_key_format)
    check_test_interval(test_interval_hours)
    if password is not None:
        check_password(password, email=email)
    password_hash = await asyncio.to_thread(hash_password, password) if password is not None else None
    try:
        return await _insert_customer(
            connection,
            name.strip(),
            email,
            password_hash,
            account,
            address.strip(),
            key,
            key_format,
            test_interval_hours,
            security_code,
            phone.strip(),
        )
    except asyncpg.UniqueViolationError:  # a concurrent enrolment won the race for the account or e-mail
        raise Conflict(f"account {account} or {email} is already enrolled", field="account") from None


async def _insert_customer(
    connection: Connection,
    name: str,
    email: str,
    password_hash: str | None,
    account: str,
    address: str,
    key: bytes | None,
    key_format: str | None,
    test_interval_hours: float,
    security_code: str,
    phone: str = "",
) -> EnrolledCustomer:
    async with connection.transaction():
        if await connection.fetchval("SELECT 1 FROM panels WHERE account = $1", account):
            raise Conflict(f"account {account} is already enrolled", field="account")
        if await connection.fetchval("SELECT 1 FROM users WHERE lower(email) = lower($1)", email):
            raise Conflict(f"{email} already has a login", field="email")
        customer_id = await connection.fetchval(
            "INSERT INTO customers (name, email, security_code, phone) VALUES ($1, $2, $3, $4) RETURNING id",
            name,
            email,
            security_code,
            phone,
        )
        user_id = await insert_owner(
            connection, customer_id=customer_id, email=email, name=name, password_hash=password_hash
        )
        site_id = await _insert_site(connection, customer_id, "Premises", address)
        panel_id = await _insert_panel(connection, site_id, account, key, key_format, test_interval_hours)
    return EnrolledCustomer(customer_id, user_id, site_id, panel_id, account)


async def _insert_site(connection: Connection, customer_id: int, name: str, address: str) -> int:
    site_id: int = await connection.fetchval(
        "INSERT INTO sites (customer_id, name, address) VALUES ($1, $2, $3) RETURNING id", customer_id, name, address
    )
    return site_id


async def _insert_panel(
    connection: Connection,
    site_id: int,
    account: str,
    key: bytes | None,
    key_format: str | None,
    test_interval_hours: float,
) -> int:
    panel_id: int = await connection.fetchval(
        "INSERT INTO panels (site_id, account, dc09_key, dc09_key_format, test_interval) "
        "VALUES ($1, $2, $3, $4, make_interval(secs => $5)) RETURNING id",
        site_id,
        account,
        key,
        key_format,
        test_interval_hours * 3600.0,
    )
    return panel_id


def check_test_interval(hours: float) -> float:
    """A panel's periodic test comes every few minutes to once a month."""
    if not MIN_TEST_INTERVAL_HOURS <= hours <= MAX_TEST_INTERVAL_HOURS:
        raise DomainError(
            f"the test interval is from {MIN_TEST_INTERVAL_HOURS * 60:g} minutes to {MAX_TEST_INTERVAL_HOURS:g} hours",
            field="test_interval_hours",
        )
    return hours


async def add_site(connection: Connection, *, customer_id: int, name: str, address: str) -> int:
    """Another monitored premises for an enrolled customer."""
    address = single_line(address, field="address", missing="enter the premises' address")
    name = single_line(name, field="site_name")
    if not await connection.fetchval("SELECT 1 FROM customers WHERE id = $1", customer_id):
        raise NotFound("there is no such customer")
    return await _insert_site(connection, customer_id, name.strip() or "Premises", address.strip())


async def add_panel(
    connection: Connection,
    *,
    site_id: int,
    account: str,
    dc09_key: str | None = None,
    dc09_key_format: str | None = None,
    test_interval_hours: float = 24,
) -> int:
    """Another alarm panel (its own account number) at an enrolled site."""
    account = normalise_account(account)
    key, key_format = _key(dc09_key, dc09_key_format)
    check_test_interval(test_interval_hours)
    async with connection.transaction():
        if not await connection.fetchval("SELECT 1 FROM sites WHERE id = $1", site_id):
            raise NotFound("there is no such premises")
        if await connection.fetchval("SELECT 1 FROM panels WHERE account = $1", account):
            raise Conflict(f"account {account} is already enrolled", field="account")
        try:
            return await _insert_panel(connection, site_id, account, key, key_format, test_interval_hours)
        except asyncpg.UniqueViolationError:
            raise Conflict(f"account {account} is already enrolled", field="account") from None


async def create_staff_user(connection: Connection, *, email: str, password: str, role: str) -> int:
    """A dispatcher or admin login; returns its id."""
    if role not in STAFF_ROLES:
        raise DomainError(f"role must be one of {', '.join(sorted(STAFF_ROLES))}", field="role")
    email = normalise_email(email)
    check_password(password, email=email)
    if await connection.fetchval("SELECT 1 FROM users WHERE lower(email) = lower($1)", email):
        raise Conflict(f"{email} already has a login", field="email")
    password_hash = await asyncio.to_thread(hash_password, password)  # off the event loop: it takes a while
    try:
        user_id: int = await connection.fetchval(
            "INSERT INTO users (email, role, password_hash) VALUES ($1, $2, $3) RETURNING id",
            email,
            role,
            password_hash,
        )
    except asyncpg.UniqueViolationError:  # created concurrently since the check above
        raise Conflict(f"{email} already has a login", field="email") from None
    return user_id
