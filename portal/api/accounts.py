"""GET /api/v1/accounts/{account}: a panel account as dispatchers need it: customer, premises, panels, last signal."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import asyncpg
from aiohttp import web

from portal.api import queries
from portal.api.openapi import Component, Reply, operation, path_parameter
from portal.api.paging import PARAMETER_ERROR
from portal.auth.access import Access, access, staff_scope
from portal.keys import pool_key
from shared.enrolment import normalise_account
from shared.signal_queries import last_signal_of_panel

routes = web.RouteTableDef()

_TIME = {"type": ["string", "null"], "format": "date-time"}
_TEXT_OR_NULL = {"type": ["string", "null"]}

PANEL = Component(
    "Panel",
    {
        "type": "object",
        "required": ["account", "test_interval_seconds", "encrypted", "last_signal_at", "last_seen_at"],
        "properties": {
            "account": {"type": "string", "description": "Account number, upper-case hex."},
            "test_interval_seconds": {"type": "integer", "description": "How often the panel must send a test."},
            "encrypted": {"type": "boolean", "description": "Whether the panel has a DC-09 AES key (never shown)."},
            "last_signal_at": {**_TIME, "description": "Its latest stored signal since it came to this customer."},
            "last_seen_at": {**_TIME, "description": "Its latest traffic of any kind, link tests included."},
        },
    },
)
SIGNAL = Component(
    "Signal",
    {
        "type": "object",
        "required": ["received_at", "panel_time", "category", "format", "code", "qualifier", "description"],
        "properties": {
            "received_at": {"type": "string", "format": "date-time"},
            "panel_time": {**_TIME, "description": "The panel's own timestamp, when the frame had one."},
            "category": {
                "type": "string",
                "enum": ["alarm", "trouble", "power", "supervisory", "open_close", "bypass", "test", "other"],
            },
            "format": {"type": "string", "enum": ["ADM-CID", "SIA-DCS"]},
            "code": {"type": "string"},
            "qualifier": {"type": "string", "enum": ["event", "restore", "status"]},
            "description": {"type": "string", "description": "The event catalogue's text for the code."},
            "zone": _TEXT_OR_NULL,
            "partition": _TEXT_OR_NULL,
            "user": {**_TEXT_OR_NULL, "description": "The user number the panel reported (openings, closings)."},
        },
    },
)
ACCOUNT = Component(
    "Account",
    {
        "type": "object",
        "required": ["account", "enrolment", "customer", "site", "panels", "last_signal"],
        "properties": {
            "account": {"type": "string"},
            "enrolment": {"const": "enrolled"},
            "customer": {
                "type": "object",
                "required": ["id", "name", "phone", "email"],
                "properties": {
                    "id": {"type": "integer"},
                    "name": {"type": "string"},
                    "phone": {"type": "string"},
                    "email": {"type": "string"},
                },
            },
            "site": {
                "type": "object",
                "required": ["id", "name", "address"],
                "properties": {"id": {"type": "integer"}, "name": {"type": "string"}, "address": {"type": "string"}},
            },
            "panels": {"type": "array", "items": PANEL},
            "last_signal": {"oneOf": [SIGNAL, {"type": "null"}]},
        },
    },
)
NOT_ENROLLED = Component(
    "AccountNotEnrolled",
    {
        "type": "object",
        "required": ["error", "account", "enrolment"],
        "properties": {
            "error": {"type": "string"},
            "account": {"type": "string"},
            "enrolment": {
                "type": "string",
                "enum": ["unknown_account", "not_found"],
                "description": "unknown_account: no panel is enrolled with it, but it has sent signals (stored as "
                "an unknown account, shown to dispatchers); not_found: it has never been heard of.",
            },
        },
    },
)


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None


def _panel(row: asyncpg.Record) -> dict[str, Any]:
    return {
        "account": row["account"],
        "test_interval_seconds": row["test_interval_seconds"],
        "encrypted": row["encrypted"],
        "last_signal_at": _iso(row["last_signal_at"]),
        "last_seen_at": _iso(row["last_seen_at"]),
    }


def _signal(row: asyncpg.Record | None) -> dict[str, Any] | None:
    if row is None:
        return None
    return {
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


def _not_enrolled(account: str, *, heard_from: bool) -> web.Response:
    if heard_from:
        state, message = "unknown_account", f"no panel is enrolled with account {account}; it has sent signals"
    else:
        state, message = "not_found", f"no panel is enrolled with account {account} and it has sent nothing"
    return web.json_response({"error": message, "account": account, "enrolment": state}, status=404)


@routes.get("/api/v1/accounts/{account}", name="api.account")
@access(Access.STAFF)
@operation(
    "A panel account: its customer, premises, the premises' panels, its last signal and enrolment state",
    description="Account numbers are 3 to 16 hex digits, matched without regard to case (`c0ffee` is `C0FFEE`). "
    "An account no panel is enrolled with answers 404, saying whether it has sent signals (an unknown account).",
    parameters=(
        path_parameter(
            "account", {"type": "string", "pattern": "^#?[0-9A-Fa-f]{3,16}$"}, "The panel's account number (hex)."
        ),
    ),
    responses={
        200: Reply("The enrolled account.", ACCOUNT),
        400: Reply('Not an account number; `parameter` is "account".', PARAMETER_ERROR),
        404: Reply("No panel is enrolled with this account.", NOT_ENROLLED),
    },
    tags=("accounts",),
)
async def account(request: web.Request) -> web.StreamResponse:
    number = normalise_account(request.match_info["account"])
    async with request.app[pool_key].acquire() as connection:
        panel = await queries.panel_by_account(connection, number)
        if panel is None:
            return _not_enrolled(number, heard_from=await queries.has_unknown_signals(connection, number))
        panels = await queries.panels_of_site(connection, panel["site_id"])
        scope = staff_scope(request, panel["customer_id"])
        last = await last_signal_of_panel(connection, scope, number, panel["last_signal_at"])
    return web.json_response(
        {
            "account": number,
            "enrolment": "enrolled",
            "customer": {
                "id": panel["customer_id"],
                "name": panel["customer_name"],
                "phone": panel["phone"],
                "email": panel["email"],
            },
            "site": {"id": panel["site_id"], "name": panel["site_name"], "address": panel["address"]},
            "panels": [_panel(row) for row in panels],
            "last_signal": _signal(last),
        }
    )
