"""Set-up for the Service Center's portal tests: a form's hidden key, staff acting through the domain."""

from __future__ import annotations

import re
from datetime import date

import asyncpg

from shared.branding import Branding
from shared.config import load_config
from shared.scope import CustomerScope
from shared.service import requests as service
from tests.portal.conftest import Customer

_KEY = re.compile(r'name="submission_key" value="([^"]+)"')
BRANDING = Branding.from_config(load_config(None, environ={}))


def submission_key(page: str) -> str:
    match = _KEY.search(page)
    assert match, "the form carries no submission key"
    return match.group(1)


async def dispatcher(db: asyncpg.Pool) -> tuple[int, str]:
    staff_id: int = await db.fetchval("SELECT id FROM users WHERE email = 'dispatcher@example.com'")
    return staff_id, "Dana Dispatcher"


async def inquiry(db: asyncpg.Pool, customer: Customer, key: str, topic: str = "False alarm") -> int:
    """An inquiry the customer's owner sent, stored through the domain."""
    async with db.acquire() as connection:
        return await service.submit_request(
            connection,
            CustomerScope(customer.customer_id, customer.owner_id),
            BRANDING,
            kind="inquiry",
            topic=topic,
            topics=[topic],
            site_id=None,
            contact_name="Pat",
            contact_email=customer.owner_email,
            contact_phone="",
            comments="Siren at 3 am.",
            preferred_dates=[],
            preferred_time="any",
            submission_key=key,
            response_promise="24 to 48 hours",
        )


async def staff_answers(
    db: asyncpg.Pool, customer: Customer, request_id: int, *, note: str, answer: str, work: str | None = None
) -> None:
    """The dispatcher takes the request, leaves an internal note and an answer, and maybe completes it."""
    staff_id, name = await dispatcher(db)
    scope = CustomerScope(customer.customer_id, staff_id, by_staff=True)
    async with db.acquire() as connection:
        await service.take(connection, scope, request_id, staff_id=staff_id, staff_name=name)
        await service.comment(
            connection, scope, BRANDING, request_id, staff_id=staff_id, staff_name=name, body=note, internal=True
        )
        await service.comment(
            connection, scope, BRANDING, request_id, staff_id=staff_id, staff_name=name, body=answer, internal=False
        )
        if work is not None:
            await service.complete(
                connection,
                scope,
                BRANDING,
                request_id,
                staff_id=staff_id,
                staff_name=name,
                performed_on=date.today(),
                technician="Sam Tech",
                work_performed=work,
            )
