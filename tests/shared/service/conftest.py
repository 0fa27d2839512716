"""Service-domain fixtures: two enrolled customers (tests/portal/conftest.enrol), two staff members, the branding."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import asyncpg
import pytest
import pytest_asyncio

from shared.branding import Branding
from shared.config import load_config
from shared.db import Connection
from shared.enrolment import create_staff_user
from shared.scope import CustomerScope
from shared.service.requests import submit_request
from tests.portal.conftest import PASSWORD, Customer, cheap_password_hashing, enrol  # noqa: F401 (a fixture)

INQUIRY_TOPICS = ("False alarm", "System trouble", "Billing question")
SERVICE_TOPICS = ("Repair", "Inspection")
TODAY = date(2026, 12, 5)


@dataclass(frozen=True)
class Staff:
    id: int
    name: str


@pytest.fixture
def branding() -> Branding:
    return Branding.from_config(
        load_config(
            None,
            environ={
                "ALARMHUB_PORTAL_COMPANY_NAME": "Acme Alarms",
                "ALARMHUB_PORTAL_COMPANY_PHONE": "+1 555 0199",
                "ALARMHUB_PORTAL_PUBLIC_URL": "https://portal.acme.example/",
            },
        )
    )


@pytest_asyncio.fixture
async def alpha(db: asyncpg.Pool) -> Customer:
    async with db.acquire() as connection:
        return await enrol(connection, "alpha", "A1A1")


@pytest_asyncio.fixture
async def beta(db: asyncpg.Pool) -> Customer:
    async with db.acquire() as connection:
        return await enrol(connection, "beta", "B2B2")


@pytest_asyncio.fixture
async def staff(db: asyncpg.Pool) -> tuple[Staff, Staff]:
    """Two dispatchers, Dana and Eli."""
    async with db.acquire() as connection:
        dana = await create_staff_user(connection, email="dana@example.com", password=PASSWORD, role="dispatcher")
        eli = await create_staff_user(connection, email="eli@example.com", password=PASSWORD, role="dispatcher")
        await connection.execute("UPDATE users SET name = 'Dana' WHERE id = $1", dana)
        await connection.execute("UPDATE users SET name = 'Eli' WHERE id = $1", eli)
    return Staff(dana, "Dana"), Staff(eli, "Eli")


def owner_scope(customer: Customer) -> CustomerScope:
    return CustomerScope(customer.customer_id, customer.owner_id)


def staff_scope(customer: Customer, member: Staff) -> CustomerScope:
    return CustomerScope(customer.customer_id, member.id, by_staff=True)


def inquiry_fields(**overrides: Any) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "kind": "inquiry",
        "topic": "False alarm",
        "topics": INQUIRY_TOPICS,
        "site_id": None,
        "contact_name": "Pat Alpha",
        "contact_email": "pat@example.com",
        "contact_phone": "+1 555 0100",
        "comments": "The alarm went off at night.\nNobody was home.",
        "preferred_dates": [],
        "preferred_time": "any",
        "submission_key": "key-inquiry-1",
        "response_promise": "24 to 48 hours",
        "today": TODAY,
    }
    return {**fields, **overrides}


def service_fields(customer: Customer, **overrides: Any) -> dict[str, Any]:
    return inquiry_fields(
        **{
            "kind": "service",
            "topic": "Repair",
            "topics": SERVICE_TOPICS,
            "site_id": customer.site_id,
            "preferred_dates": [TODAY + timedelta(days=3), TODAY + timedelta(days=4)],
            "preferred_time": "morning",
            "submission_key": "key-service-1",
            **overrides,
        }
    )


async def submitted(connection: Connection, branding: Branding, customer: Customer, **overrides: Any) -> int:
    """An inquiry of `customer`, as its owner submits it."""
    return await submit_request(connection, owner_scope(customer), branding, **inquiry_fields(**overrides))
