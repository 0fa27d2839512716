"""Enrolment: creating customers with their owner login, site and panel, what each panel is monitored for, and staff
users."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Final

import asyncpg

from shared.catalogue.model import AlarmType
from shared.db import Connection
from shared.dc09_keys import InvalidKeyError, parse_dc09_key
from shared.errors import Conflict, DomainError, NotFound
from shared.fields import normalise_email, single_line
from shared.password_policy import check_password
from shared.passwords import hash_password
from shared.roles import STAFF_ROLES
from shared.scope import CustomerScope
from shared.users import insert_owner

_ACCOUNT = re.compile(r"^[0-9A-Fa-f]{3,16}$")
MIN_TEST_INTERVAL_HOURS = 1 / 60
MAX_TEST_INTERVAL_HOURS = 31 * 24
MIN_LINK_SUPERVISION_SECONDS = 10
# What a panel can be enrolled to be monitored for (panels.monitored_services, sql/0018: its CHECK lists the same
# values), with the words the enrolment form shows, in the catalogue's order. Tamper, "emergency" and "other" are
# kinds of alarm a panel may send, not services an insurer asks about.
MONITORED_SERVICES: Final[Mapping[str, str]] = MappingProxyType(
    {
        AlarmType.BURGLARY: "Burglary",
        AlarmType.FIRE: "Fire",
        AlarmType.PANIC: "Panic",
        AlarmType.MEDICAL: "Medical",
        AlarmType.DURESS: "Duress",
        AlarmType.HOLDUP: "Hold-up",
        AlarmType.GAS: "Gas",
        AlarmType.CO: "Carbon monoxide",
        AlarmType.WATER: "Water",
        AlarmType.HEAT: "Heat",
        AlarmType.FREEZE: "Freeze",
    }
)


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


def check_monitored_services(values: Iterable[str]) -> list[str]:
    """The services a panel is enrolled for, each once and in the catalogue's order; an unknown one is refused."""
    chosen = {value.strip().lower() for value in values if value.strip()}
    unknown = sorted(chosen - MONITORED_SERVICES.keys())
    if unknown:
        raise DomainError(
            f"{', '.join(repr(u) for u in unknown)} is not a service a panel is monitored for; choose from "
            f"{', '.join(MONITORED_SERVICES)}",
            field="monitored_services",
        )
    return [service for service in MONITORED_SERVICES if service in chosen]


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
    monitored_services: Iterable[str] = (),
    link_supervision_seconds: float | None = None,
) -> EnrolledCustomer:
    """One transaction: the customer, its owner login, its monitored site and the panel with its account (and what
    the panel is monitored for: values of MONITORED_SERVICES)."""
    name = single_line(name, field="name", missing="enter the customer's name")
    address, phone = single_line(address, field="address"), single_line(phone, field="phone")
    security_code = single_line(security_code, field="security_code")
    email = normalise_email(email)
    account = normalise_account(account)
    key, key_format = _key(dc09_key, dc09_key_format)
    check_test_interval(test_interval_hours)
    check_link_supervision(link_supervision_seconds)
    services = check_monitored_services(monitored_services)
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
            services,
            link_supervision_seconds,
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
    monitored_services: list[str] | None = None,
    link_supervision_seconds: float | None = None,
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
        panel_id = await _insert_panel(
            connection,
            site_id,
            account,
            key,
            key_format,
            test_interval_hours,
            monitored_services or [],
            link_supervision_seconds,
        )
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
    monitored_services: list[str],
    link_supervision_seconds: float | None = None,
) -> int:
    panel_id: int = await connection.fetchval(
        "INSERT INTO panels (site_id, account, dc09_key, dc09_key_format, test_interval, monitored_services, "
        "supervision_interval) VALUES ($1, $2, $3, $4, make_interval(secs => $5), $6, make_interval(secs => $7)) "
        "RETURNING id",
        site_id,
        account,
        key,
        key_format,
        test_interval_hours * 3600.0,
        monitored_services,
        link_supervision_seconds,
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


def check_link_supervision(seconds: float | None) -> float | None:
    """A panel's DC-09 link supervision (it polls the receiver with NULL messages), if it has one: every 10 seconds to
    once a month. A lapse raises a failure to communicate (shared.incidents.supervision) sooner than its test."""
    if seconds is not None and not MIN_LINK_SUPERVISION_SECONDS <= seconds <= MAX_TEST_INTERVAL_HOURS * 3600:
        raise DomainError(
            f"link supervision is from {MIN_LINK_SUPERVISION_SECONDS:g} seconds to {MAX_TEST_INTERVAL_HOURS:g} hours; "
            "leave it empty for a panel that does not poll",
            field="link_supervision_seconds",
        )
    return seconds


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
    monitored_services: Iterable[str] = (),
    link_supervision_seconds: float | None = None,
) -> int:
    """Another alarm panel (its own account number) at an enrolled site, and what it is monitored for."""
    account = normalise_account(account)
    key, key_format = _key(dc09_key, dc09_key_format)
    check_test_interval(test_interval_hours)
    check_link_supervision(link_supervision_seconds)
    services = check_monitored_services(monitored_services)
    async with connection.transaction():
        if not await connection.fetchval("SELECT 1 FROM sites WHERE id = $1", site_id):
            raise NotFound("there is no such premises")
        if await connection.fetchval("SELECT 1 FROM panels WHERE account = $1", account):
            raise Conflict(f"account {account} is already enrolled", field="account")
        try:
            return await _insert_panel(
                connection, site_id, account, key, key_format, test_interval_hours, services, link_supervision_seconds
            )
        except asyncpg.UniqueViolationError:
            raise Conflict(f"account {account} is already enrolled", field="account") from None


@dataclass(frozen=True, slots=True)
class PanelServices:
    """A panel and what it is monitored for now (values of MONITORED_SERVICES, in their order)."""

    panel_id: int
    account: str
    services: list[str]


async def panel_of_account(connection: Connection, account: str) -> tuple[int, int]:
    """(customer_id, panel_id) of the panel with this monitoring account number; NotFound for none."""
    try:
        account = normalise_account(account)
    except DomainError:
        raise NotFound(f"no panel has the account number {account!r}") from None
    row = await connection.fetchrow(
        "SELECT s.customer_id, p.id FROM panels p JOIN sites s ON s.id = p.site_id WHERE p.account = $1", account
    )
    if row is None:
        raise NotFound(f"no panel has the account number {account!r}")
    return row["customer_id"], row["id"]


async def set_monitored_services(
    connection: Connection, scope: CustomerScope, panel_id: int, services: Iterable[str]
) -> PanelServices:
    """Record what the scope's panel is monitored for, in place of what was on file (none clears it): for panels
    enrolled before this was asked, so their premises can get an insurance certificate. An unknown service is refused
    by the `monitored_services` field; a panel of another customer is NotFound and nothing changes."""
    chosen = check_monitored_services(services)
    account: str | None = await connection.fetchval(
        "UPDATE panels p SET monitored_services = $3 FROM sites s "
        "WHERE p.id = $1 AND s.id = p.site_id AND s.customer_id = $2 RETURNING p.account",
        panel_id,
        scope.customer_id,
        chosen,
    )
    if account is None:
        raise NotFound("there is no such panel for this customer")
    return PanelServices(panel_id, account, chosen)


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
