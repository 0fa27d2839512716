"""Customers, premises, panels and alarms for the certificate tests, written as enrolment and the receiver would."""

from __future__ import annotations

from dataclasses import dataclass

import asyncpg

from shared.enrolment import add_panel, add_site, create_customer
from shared.scope import CustomerScope


@dataclass(frozen=True, slots=True)
class Enrolled:
    customer_id: int
    site_id: int
    panel_id: int
    account: str

    @property
    def scope(self) -> CustomerScope:
        return CustomerScope(self.customer_id, user_id=None)


async def enrol(
    connection: asyncpg.Connection, tag: str, account: str, *, services: tuple[str, ...] = ("burglary",)
) -> Enrolled:
    enrolled = await create_customer(
        connection,
        name=f"Customer {tag}",
        email=f"owner-{tag}@example.com",
        password=None,
        account=account,
        address=f"{tag} Street 1, Springfield",
        monitored_services=services,
    )
    return Enrolled(enrolled.customer_id, enrolled.site_id, enrolled.panel_id, enrolled.account)


async def second_premises(
    connection: asyncpg.Connection,
    customer: Enrolled,
    name: str,
    account: str | None,
    *,
    services: tuple[str, ...] = (),
) -> tuple[int, int | None]:
    """Another premises of `customer`, with a panel of `account` (None: no panel)."""
    site_id = await add_site(connection, customer_id=customer.customer_id, name=name, address=f"{name} Road 7")
    panel_id = None
    if account is not None:
        panel_id = await add_panel(connection, site_id=site_id, account=account, monitored_services=services)
    return site_id, panel_id


async def alarm(
    connection: asyncpg.Connection,
    customer: Enrolled,
    alarm_type: str | None,
    *,
    category: str = "alarm",
    site_id: int | None = None,
    panel_id: int | None = None,
    account: str | None = None,
) -> None:
    """A signal as the receiver stores it, of `category` and `alarm_type`, at the customer's (first) premises."""
    sequence = await connection.fetchval("SELECT count(*) + 1 FROM signals")
    await connection.execute(
        "INSERT INTO signals (account, panel_id, site_id, customer_id, transport, sequence, format, code, qualifier, "
        "category, alarm_type, priority, description, raw_frame) "
        "VALUES ($1, $2, $3, $4, 'tcp', $5, 'ADM-CID', '130', 'event', $6, $7, 1, 'Alarm', '\\x00')",
        account or customer.account,
        panel_id or customer.panel_id,
        site_id or customer.site_id,
        customer.customer_id,
        f"{sequence:04d}",
        category,
        alarm_type,
    )
