"""GET /api/v1/signals: every account's stored signals newest first, filtered and keyset-paged, for staff."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any, Final

import asyncpg
from aiohttp import web

from portal.api import queries
from portal.api.accounts import SIGNAL
from portal.api.openapi import Component, Reply, operation, query_parameter
from portal.api.paging import (
    AFTER_PARAMETER,
    LIMIT_PARAMETER,
    PARAMETER_ERROR,
    BadParameter,
    Position,
    bad_parameter,
    next_after,
    page_json,
    page_schema,
    parse_after,
    parse_limit,
    single_values,
)
from portal.auth.access import Access, access
from portal.keys import pool_key
from shared.catalogue import SignalCategory
from shared.enrolment import normalise_account
from shared.errors import DomainError

routes = web.RouteTableDef()
LISTING: Final = "signals"
# Instants a caller may name: outside them the time arithmetic of the search would leave datetime's range.
FIRST_YEAR, LAST_YEAR = 1970, 2999
_DATE_TIME = r"[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt][0-9]{2}:[0-9]{2}(?::[0-9]{2}(?:\.[0-9]{1,9})?)?"
INSTANT: Final = re.compile(_DATE_TIME + r"(?:[Zz]|[+-][0-9]{2}:[0-9]{2})")
NO_ZONE: Final = re.compile(_DATE_TIME)

SIGNAL_ENTRY = Component(
    "SignalEntry",
    {
        "type": "object",
        "required": [
            "id",
            "account",
            "customer_id",
            "site_id",
            "incident_id",
            *SIGNAL.schema["required"],
            "zone",
            "partition",
            "user",
        ],
        "properties": {
            "id": {"type": "integer"},
            "account": {"type": "string", "description": "The account the panel sent, upper-case hex."},
            "customer_id": {
                "type": ["integer", "null"],
                "description": "The customer it was stored for; null for an account no panel is enrolled with.",
            },
            "site_id": {"type": ["integer", "null"], "description": "The premises it came from, or null likewise."},
            "incident_id": {"type": ["integer", "null"], "description": "The incident it opened or joined, if any."},
            **SIGNAL.schema["properties"],
        },
    },
)
SIGNALS_PAGE = page_schema("SignalsPage", SIGNAL_ENTRY)

PARAMETERS: Final = (
    query_parameter(
        "account",
        {"type": "string", "pattern": "^#?[0-9A-Fa-f]{3,16}$"},
        "Only this account's signals (3 to 16 hex digits, any case); every account's when left out, unknown "
        "accounts' included.",
    ),
    query_parameter(
        "since",
        {"type": "string", "format": "date-time"},
        "Only signals received at or after this instant: ISO 8601 with a time zone (`Z` or `%2B01:00` — a `+` "
        "must be sent encoded, as in any query string).",
    ),
    query_parameter("until", {"type": "string", "format": "date-time"}, "Only signals received before this instant."),
    query_parameter(
        "category",
        {"type": "string", "enum": [category.value for category in SignalCategory]},
        "Only signals of this category of the event catalogue.",
    ),
    LIMIT_PARAMETER,
    AFTER_PARAMETER,
)


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None


def signal_json(row: asyncpg.Record) -> dict[str, Any]:
    """A signals row (queries.SIGNAL_COLUMNS and its incident_id) as the API's SignalEntry."""
    return {
        "id": row["id"],
        "account": row["account"],
        "customer_id": row["customer_id"],
        "site_id": row["site_id"],
        "incident_id": row["incident_id"],
        "received_at": _iso(row["received_at"]),
        "panel_time": _iso(row["panel_time"]),
        "category": row["category"],
        "format": row["format"],
        "code": row["code"],
        "qualifier": row["qualifier"],
        "description": row["description"],
        "zone": row["zone"],
        "partition": row["partition"],
        "user": row["user_number"],
    }


def parse_instant(name: str, text: str | None) -> datetime | None:
    """An instant as RFC 3339 writes it (ISO 8601 with its offset): checked against INSTANT first, because
    datetime.fromisoformat alone lets through text it should not (it ignores a trailing NUL, for one)."""
    if text is None:
        return None
    if not INSTANT.fullmatch(text):
        if NO_ZONE.fullmatch(text):
            raise BadParameter(name, "give the time zone too, such as 2026-12-01T08:00:00Z or …+01:00")
        hint = " (a `+` in a query string reads as a space: send it as %2B)" if " " in text else ""
        raise BadParameter(name, f"not an ISO 8601 date and time such as 2026-12-01T08:00:00Z{hint}")
    try:
        moment = datetime.fromisoformat(text.upper())
    except ValueError:  # the shape is right, a value is not (month 13, hour 25, …)
        raise BadParameter(name, f"{text} is not a date and time that exists") from None
    if not FIRST_YEAR <= moment.year <= LAST_YEAR:
        raise BadParameter(name, f"give an instant between the years {FIRST_YEAR} and {LAST_YEAR}")
    return moment.astimezone(UTC)


def parse_filter(values: dict[str, str]) -> queries.SignalFilter:
    account = values.get("account")
    if account is not None:
        try:
            account = normalise_account(account)
        except DomainError as error:
            raise BadParameter("account", error.message) from None
    category = values.get("category")
    if category is not None and category not in {c.value for c in SignalCategory}:
        raise BadParameter("category", f"one of {', '.join(c.value for c in SignalCategory)}")
    since, until = parse_instant("since", values.get("since")), parse_instant("until", values.get("until"))
    if since is not None and until is not None and until <= since:
        raise BadParameter("until", "must be later than since")
    return queries.SignalFilter(account=account, category=category, since=since, until=until)


@routes.get("/api/v1/signals", name="api.signals")
@access(Access.STAFF)
@operation(
    "Stored signals of every account, or of one, newest first, a page at a time",
    description="Newest first by the time of receipt. Paged by keyset: the answer's `next_after` is the `after` "
    "of the next page, so signals that arrive while a client pages never make it repeat or skip a row (they are "
    "newer than its first page). Each filter narrows the list; an empty parameter is as good as none; an unknown "
    "or repeated parameter is refused (400, naming it).",
    parameters=PARAMETERS,
    responses={
        200: Reply("A page of signals.", SIGNALS_PAGE),
        400: Reply("A parameter is not valid; `parameter` names it.", PARAMETER_ERROR),
    },
    tags=("signals",),
)
async def signals(request: web.Request) -> web.StreamResponse:
    try:
        values = dict(single_values(request.query, PARAMETERS))
        wanted = parse_filter(values)
        limit = parse_limit(values.get("limit"))
        after = parse_after(request, LISTING, values.get("after"))
    except BadParameter as error:
        return bad_parameter(error)
    start = (after.at, after.id) if after is not None else None
    async with request.app[pool_key].acquire() as connection:
        rows = await queries.signals_page(connection, wanted, start, limit + 1)
    shown = rows[:limit]
    last = Position(shown[-1]["received_at"], shown[-1]["id"]) if len(rows) > limit else None
    return web.json_response(page_json([signal_json(row) for row in shown], next_after(request, LISTING, last)))
