"""Submitting an inquiry or a request for service: each field's rule, the premises' scope, one row per form."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import asyncpg
import pytest

from shared.branding import Branding
from shared.errors import DomainError
from shared.scope import CustomerScope
from shared.service.requests import get_request, list_requests, submit_request
from tests.portal.conftest import Customer
from tests.shared.service.conftest import TODAY, inquiry_fields, owner_scope, service_fields


async def refusal(db: asyncpg.Pool, branding: Branding, customer: Customer, fields: dict[str, Any]) -> DomainError:
    async with db.acquire() as connection:
        with pytest.raises(DomainError) as refused:
            await submit_request(connection, owner_scope(customer), branding, **fields)
    assert await db.fetchval("SELECT count(*) FROM service_requests") == 0
    assert await db.fetchval("SELECT count(*) FROM outbox") == 0
    return refused.value


async def test_an_inquiry_is_stored_with_its_event_and_confirmed_by_mail(
    db: asyncpg.Pool, branding: Branding, alpha: Customer
) -> None:
    async with db.acquire() as connection:
        request_id = await submit_request(
            connection, owner_scope(alpha), branding, **inquiry_fields(contact_email=" pat@example.com ")
        )
        request, events, visits = await get_request(connection, owner_scope(alpha), request_id, internal=False)
    assert (request.kind, request.topic, request.status, request.site_id) == ("inquiry", "False alarm", "open", None)
    assert (request.contact_name, request.contact_email, request.contact_phone) == (
        "Pat Alpha",
        "pat@example.com",
        "+1 555 0100",
    )
    assert request.comments == "The alarm went off at night.\nNobody was home."
    assert request.customer_name == "Customer alpha"
    assert [(e.action, e.visibility) for e in events] == [("submitted", "customer")]
    assert visits == []
    mail = await db.fetchrow("SELECT * FROM outbox")
    # pat@example.com is on file nowhere: the confirmation (which quotes what was typed) goes to whoever submitted.
    assert mail["recipient"] == alpha.owner_email
    assert mail["subject"] == f"Acme Alarms: we received your request #{request_id}"
    assert "will be in touch within 24 to 48 hours to complete your request" in mail["body"]
    assert f"https://portal.acme.example/service/requests/{request_id}" in mail["body"]
    assert await db.fetchval("SELECT submitted_by FROM service_requests") == alpha.owner_id


async def test_a_request_for_service_keeps_premises_dates_and_time(
    db: asyncpg.Pool, branding: Branding, alpha: Customer
) -> None:
    fields = service_fields(alpha, preferred_dates=[TODAY + timedelta(days=4), TODAY, TODAY + timedelta(days=4)])
    async with db.acquire() as connection:
        request_id = await submit_request(connection, owner_scope(alpha), branding, **fields)
        request, _, _ = await get_request(connection, owner_scope(alpha), request_id, internal=False)
    assert request.site_id == alpha.site_id
    assert request.site_address == "alpha Street 1"
    assert request.preferred_dates == [TODAY, TODAY + timedelta(days=4)]  # sorted, each once
    assert request.preferred_time == "morning"
    body = await db.fetchval("SELECT body FROM outbox")
    assert "Days that suit you: Saturday 5 December 2026, Wednesday 9 December 2026 (morning)" in body


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"topic": ""}, "topic"),
        ({"topic": "Something not in the list"}, "topic"),
        ({"contact_name": "  "}, "contact_name"),
        ({"contact_name": "Pat\nBcc: victim@example.com"}, "contact_name"),
        ({"contact_name": "x" * 121}, "contact_name"),
        ({"contact_email": ""}, "contact_email"),
        ({"contact_email": "not-an-address"}, "contact_email"),
        ({"contact_phone": "555\r\n0100"}, "contact_phone"),
        ({"contact_phone": "5" * 41}, "contact_phone"),
        ({"comments": "bell\x07"}, "comments"),
        ({"comments": "x" * 4001}, "comments"),
        ({"preferred_dates": [TODAY]}, "preferred_dates"),  # an inquiry takes none
        ({"submission_key": ""}, "form"),
        ({"submission_key": "k" * 65}, "form"),
    ],
)
async def test_an_inquiry_field_is_refused_by_its_name(
    db: asyncpg.Pool, branding: Branding, alpha: Customer, overrides: dict[str, Any], field: str
) -> None:
    error = await refusal(db, branding, alpha, inquiry_fields(**overrides))
    assert error.field == field


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"topic": "False alarm"}, "topic"),  # an inquiry's topic is not a kind of service
        ({"preferred_dates": []}, "preferred_dates"),
        ({"preferred_dates": [TODAY + timedelta(days=n) for n in range(1, 5)]}, "preferred_dates"),
        ({"preferred_dates": [TODAY - timedelta(days=1)]}, "preferred_dates"),
        ({"preferred_dates": [TODAY + timedelta(days=366)]}, "preferred_dates"),
        ({"preferred_time": "midnight"}, "preferred_time"),
        ({"site_id": None}, "site_id"),
    ],
)
async def test_a_service_field_is_refused_by_its_name(
    db: asyncpg.Pool, branding: Branding, alpha: Customer, overrides: dict[str, Any], field: str
) -> None:
    error = await refusal(db, branding, alpha, service_fields(alpha, **overrides))
    assert error.field == field


async def test_dates_today_and_a_year_ahead_are_accepted(db: asyncpg.Pool, branding: Branding, alpha: Customer) -> None:
    fields = service_fields(alpha, preferred_dates=[TODAY, TODAY + timedelta(days=365)])
    async with db.acquire() as connection:
        await submit_request(connection, owner_scope(alpha), branding, **fields)
    assert await db.fetchval("SELECT preferred_dates FROM service_requests") == [TODAY, TODAY + timedelta(days=365)]


async def test_another_customers_premises_are_refused_as_a_field_error(
    db: asyncpg.Pool, branding: Branding, alpha: Customer, beta: Customer
) -> None:
    for fields in (service_fields(alpha, site_id=beta.site_id), inquiry_fields(site_id=beta.site_id)):
        error = await refusal(db, branding, alpha, fields)
        assert (error.field, error.message) == ("site_id", "Choose one of your premises.")


async def test_the_same_submission_key_twice_stores_one_request_and_one_mail(
    db: asyncpg.Pool, branding: Branding, alpha: Customer
) -> None:
    async with db.acquire() as connection:
        first = await submit_request(connection, owner_scope(alpha), branding, **inquiry_fields())
        again = await submit_request(connection, owner_scope(alpha), branding, **inquiry_fields(comments="changed"))
    assert again == first
    assert await db.fetchval("SELECT count(*) FROM service_requests") == 1
    assert await db.fetchval("SELECT count(*) FROM service_request_events") == 1
    assert await db.fetchval("SELECT count(*) FROM outbox") == 1


async def test_two_concurrent_submits_with_one_key_store_one_request_and_one_mail(
    db: asyncpg.Pool, branding: Branding, alpha: Customer
) -> None:
    async def submit() -> int:
        async with db.acquire() as connection:
            return await submit_request(connection, owner_scope(alpha), branding, **inquiry_fields())

    first, second = await asyncio.gather(submit(), submit())
    assert first == second
    assert await db.fetchval("SELECT count(*) FROM service_requests") == 1
    assert await db.fetchval("SELECT count(*) FROM outbox") == 1


async def test_submission_keys_are_per_customer(
    db: asyncpg.Pool, branding: Branding, alpha: Customer, beta: Customer
) -> None:
    """Another customer's form with the same key is its own request: a key never reveals someone else's."""
    async with db.acquire() as connection:
        mine = await submit_request(connection, owner_scope(alpha), branding, **inquiry_fields())
        theirs = await submit_request(connection, owner_scope(beta), branding, **inquiry_fields())
        assert mine != theirs
        assert [r.id for r in await list_requests(connection, owner_scope(beta))] == [theirs]


async def test_a_customer_lists_only_their_requests_newest_first(
    db: asyncpg.Pool, branding: Branding, alpha: Customer, beta: Customer
) -> None:
    async with db.acquire() as connection:
        older = await submit_request(connection, owner_scope(alpha), branding, **inquiry_fields(submission_key="a"))
        newer = await submit_request(connection, owner_scope(alpha), branding, **service_fields(alpha))
        await submit_request(connection, owner_scope(beta), branding, **inquiry_fields(submission_key="b"))
        assert [r.id for r in await list_requests(connection, owner_scope(alpha))] == [newer, older]


async def test_the_confirmation_goes_to_the_contact_only_when_the_address_is_on_file(
    db: asyncpg.Pool, branding: Branding, alpha: Customer
) -> None:
    async with db.acquire() as connection:
        secondary = CustomerScope(alpha.customer_id, alpha.secondary_id)
        await submit_request(
            connection,
            secondary,
            branding,
            **inquiry_fields(contact_email="stranger@elsewhere.example", submission_key="k-stranger"),
        )
        await submit_request(
            connection,
            secondary,
            branding,
            **inquiry_fields(contact_email=alpha.owner_email.upper(), submission_key="k-owner"),
        )
    recipients = [r["recipient"] for r in await db.fetch("SELECT recipient FROM outbox ORDER BY id")]
    assert recipients == [alpha.secondary_email, alpha.owner_email.upper()]
    assert await db.fetchval("SELECT count(*) FROM outbox WHERE recipient LIKE '%elsewhere%'") == 0
