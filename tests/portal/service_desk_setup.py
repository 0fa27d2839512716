"""Service requests put straight into the database for the desk's tests: any age, state and holder."""

from __future__ import annotations

import itertools

import asyncpg

from tests.portal.conftest import Customer

_KEYS = itertools.count(1)


async def add_request(
    db: asyncpg.Pool,
    customer: Customer,
    *,
    minutes_ago: float,
    kind: str = "service",
    topic: str = "Repair",
    status: str = "open",
    holder_id: int | None = None,
    with_site: bool = True,
    comments: str = "",
) -> int:
    """A request of `customer` submitted `minutes_ago`, as the customer's form would have stored it."""
    closed = status in ("completed", "cancelled")
    request_id: int = await db.fetchval(
        "INSERT INTO service_requests (customer_id, kind, topic, site_id, contact_name, contact_email, comments, "
        "status, submission_key, submitted_by, holder_id, taken_at, created_at, updated_at, closed_at) "
        "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, CASE WHEN $11::bigint IS NULL THEN NULL ELSE now() END, "
        "now() - make_interval(secs => $12), now() - make_interval(secs => $12), "
        "CASE WHEN $13 THEN now() END) RETURNING id",
        customer.customer_id,
        kind,
        topic,
        customer.site_id if with_site else None,
        f"Owner of {customer.account}",
        customer.owner_email,
        comments,
        status,
        f"desk-test-{next(_KEYS)}",
        customer.owner_id,
        holder_id,
        minutes_ago * 60.0,
        closed,
    )
    await db.execute(
        "INSERT INTO service_request_events (request_id, at, author_id, author_name, action, body) "
        "VALUES ($1, now() - make_interval(secs => $2), $3, $4, 'submitted', $5)",
        request_id,
        minutes_ago * 60.0,
        customer.owner_id,
        f"Owner of {customer.account}",
        comments,
    )
    return request_id


async def staff_id(db: asyncpg.Pool, email: str) -> int:
    user_id: int = await db.fetchval("SELECT id FROM users WHERE email = $1", email)
    return user_id
