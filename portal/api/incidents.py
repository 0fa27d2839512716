"""GET /api/v1/incidents (open or closed, keyset-paged) and GET /api/v1/incidents/{id} with its signals and its
audit trail, for staff who handle incidents.

An action's detail is given field by field from a list per kind of action, never as stored: what the trail keeps
for the dispatcher's page (or may keep one day) reaches an API client only once it is listed here. The verbal
passcode is never in it (a call records only whether it was given)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from enum import StrEnum
from typing import Any, Final

import asyncpg
from aiohttp import web

from portal.api import incident_queries as queries
from portal.api.openapi import ERROR, Component, Reply, Schema, operation, path_parameter, query_parameter
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
from portal.api.signals import SIGNAL_ENTRY, signal_json
from portal.auth.access import Access, access
from portal.auth.model import Permission
from portal.keys import pool_key
from portal.paths import path_id
from shared.incidents.incident_page import actions_of
from shared.incidents.model import (
    Action,
    ActionKind,
    CallOutcome,
    Disposition,
    FalseAlarmCause,
    IncidentKind,
    IncidentStatus,
    Service,
)

routes = web.RouteTableDef()
HANDLERS: Final = (Access.STAFF, Permission.TAKE_INCIDENTS)  # as the dispatcher's incident page (portal/dispatch)

_TIME: Final = {"type": "string", "format": "date-time"}
_TIME_OR_NULL: Final = {"type": ["string", "null"], "format": "date-time"}
_TEXT: Final = {"type": "string"}
_ID: Final = {"type": "integer"}
_ID_OR_NULL: Final = {"type": ["integer", "null"]}
_IDS: Final = {"type": "array", "items": {"type": "integer"}}


def _enum(values: type[StrEnum], *, null: bool = False) -> Schema:
    choices: list[str | None] = [value.value for value in values]
    if null:
        return {"type": ["string", "null"], "enum": [*choices, None]}
    return {"type": "string", "enum": choices}


def _person(description: str) -> Schema:
    return {
        "oneOf": [
            {
                "type": "object",
                "required": ["user_id", "name"],
                "properties": {"user_id": _ID_OR_NULL, "name": _TEXT},
            },
            {"type": "null"},
        ],
        "description": description,
    }


INCIDENT = Component(
    "Incident",
    {
        "type": "object",
        "required": [
            "id",
            "kind",
            "status",
            "account",
            "priority",
            "alarm_type",
            "title",
            "opened_at",
            "last_signal_at",
            "signal_count",
            "restored_at",
            "customer",
            "site",
            "panel_account",
            "holder",
            "taken_at",
            "held_until",
            "closed_at",
            "closed_by",
            "disposition",
            "false_alarm_cause",
            "disposition_note",
        ],
        "properties": {
            "id": _ID,
            "kind": _enum(IncidentKind),
            "status": _enum(IncidentStatus),
            "account": {"type": "string", "description": "The account whose signals opened it."},
            "priority": {"type": "integer", "description": "1 is the most urgent (fire, panic, medical…)."},
            "alarm_type": {"type": ["string", "null"], "description": "fire, burglary, … for an alarm."},
            "title": {"type": "string", "description": "The text of its most urgent signal."},
            "opened_at": _TIME,
            "last_signal_at": _TIME,
            "signal_count": {"type": "integer"},
            "restored_at": {**_TIME_OR_NULL, "description": "When every event in it had been restored."},
            "customer": {
                "oneOf": [
                    {"type": "object", "required": ["id", "name"], "properties": {"id": _ID, "name": _TEXT}},
                    {"type": "null"},
                ],
                "description": "null while the account is unknown (no panel is enrolled with it).",
            },
            "site": {
                "oneOf": [
                    {
                        "type": "object",
                        "required": ["id", "name", "address"],
                        "properties": {"id": _ID, "name": _TEXT, "address": _TEXT},
                    },
                    {"type": "null"},
                ],
                "description": "The premises; null while the account is unknown.",
            },
            "panel_account": {"type": ["string", "null"], "description": "The enrolled panel, when there is one."},
            "holder": _person("The dispatcher handling it (one at a time), or null."),
            "taken_at": _TIME_OR_NULL,
            "held_until": {**_TIME_OR_NULL, "description": "On hold until then (presented again after)."},
            "closed_at": _TIME_OR_NULL,
            "closed_by": _person("Who closed it; null while open, or when the system did (a restore)."),
            "disposition": _enum(Disposition, null=True),
            "false_alarm_cause": _enum(FalseAlarmCause, null=True),
            "disposition_note": {"type": "string"},
        },
    },
)

# What an API client is given of each kind of action's detail, and its JSON type; nothing else leaves.
_DETAIL_TYPES: Final[Mapping[str, Schema]] = {
    "signal_id": _ID,
    "kind": _enum(IncidentKind),
    "title": _TEXT,
    "priority": _ID,
    "reason": _TEXT,
    "from_user_id": _ID_OR_NULL,
    "from_name": _TEXT,
    "contact_id": _ID_OR_NULL,
    "name": _TEXT,
    "phone": _TEXT,
    "outcome": _enum(CallOutcome),
    "note": _TEXT,
    "passcode_verified": {"type": "boolean"},
    "text": _TEXT,
    "service": _enum(Service),
    "minutes": _ID,
    "until": _TIME,
    "disposition": _enum(Disposition),
    "cause": _enum(FalseAlarmCause, null=True),
    "into": _ID,
    "from": _ID,
    "account": _TEXT,
    "panel_id": _ID,
    "site_id": _ID,
    "customer_id": _ID,
    "signal_ids": _IDS,
    "category": _TEXT,
    "user_ids": _IDS,
}
DETAIL_FIELDS: Final[Mapping[ActionKind, tuple[str, ...]]] = {
    ActionKind.OPENED: ("signal_id", "kind", "title", "priority"),
    ActionKind.SIGNAL: ("signal_id", "title", "priority"),
    ActionKind.RESTORED: ("signal_id", "title"),
    ActionKind.TAKEN: (),
    ActionKind.TAKEN_OVER: ("reason", "from_user_id", "from_name"),
    ActionKind.RELEASED: (),
    ActionKind.CALL: ("contact_id", "name", "phone", "outcome", "note", "passcode_verified"),
    ActionKind.NOTE: ("text",),
    ActionKind.DISPATCH: ("service", "note"),
    ActionKind.HOLD: ("minutes", "until", "reason"),
    ActionKind.CLOSED: ("disposition", "cause", "note", "signal_id", "into"),
    ActionKind.ATTACHED: ("account", "panel_id", "site_id", "customer_id", "signal_ids", "into", "from"),
    ActionKind.NOTIFIED: ("category", "user_ids"),
}


def _fields_doc() -> str:
    return "; ".join(f"{kind.value}: {', '.join(fields) or '—'}" for kind, fields in DETAIL_FIELDS.items())


ACTION = Component(
    "IncidentAction",
    {
        "type": "object",
        "required": ["id", "at", "kind", "by", "customer_visible", "detail"],
        "properties": {
            "id": _ID,
            "at": _TIME,
            "kind": _enum(ActionKind),
            "by": _person("The dispatcher, by id and by name as it was then; null for the system."),
            "customer_visible": {"type": "boolean", "description": "Whether the customer's account shows it."},
            "detail": {
                "type": "object",
                "additionalProperties": False,
                "properties": dict(_DETAIL_TYPES),
                "description": f"What was done; the fields each kind may have: {_fields_doc()}. A call says "
                "whether the verbal passcode was given, never the passcode.",
            },
        },
    },
)
TIMELINE_ENTRY = Component(
    "IncidentSignal",
    {
        "type": "object",
        "required": ["role", "signal"],
        "properties": {
            "role": {"type": "string", "enum": ["opened", "joined", "restore"]},
            "signal": SIGNAL_ENTRY,
        },
    },
)
INCIDENT_DETAIL = Component(
    "IncidentDetail",
    {
        "type": "object",
        "required": ["incident", "timeline", "actions"],
        "properties": {
            "incident": INCIDENT,
            "timeline": {"type": "array", "items": TIMELINE_ENTRY, "description": "Its signals, oldest first."},
            "actions": {"type": "array", "items": ACTION, "description": "Its audit trail, oldest first."},
        },
    },
)
INCIDENTS_PAGE = page_schema("IncidentsPage", INCIDENT)

LIST_PARAMETERS: Final = (
    query_parameter(
        "status",
        {"type": "string", "enum": list(queries.STATUSES), "default": "open"},
        "open (the default: newest opened first) or closed (newest closed first).",
    ),
    LIMIT_PARAMETER,
    AFTER_PARAMETER,
)


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None


def _person_json(user_id: int | None, name: str) -> dict[str, Any] | None:
    return {"user_id": user_id, "name": name} if user_id is not None or name else None


def incident_json(row: asyncpg.Record) -> dict[str, Any]:
    customer = (
        {"id": row["customer_id"], "name": row["customer_name"] or ""} if row["customer_id"] is not None else None
    )
    site = None
    if row["site_id"] is not None:
        site = {"id": row["site_id"], "name": row["site_name"] or "", "address": row["site_address"] or ""}
    return {
        "id": row["id"],
        "kind": row["kind"],
        "status": row["status"],
        "account": row["account"],
        "priority": row["priority"],
        "alarm_type": row["alarm_type"],
        "title": row["title"],
        "opened_at": _iso(row["opened_at"]),
        "last_signal_at": _iso(row["last_signal_at"]),
        "signal_count": row["signal_count"],
        "restored_at": _iso(row["restored_at"]),
        "customer": customer,
        "site": site,
        "panel_account": row["panel_account"],
        "holder": _person_json(row["holder_id"], row["holder_name"]) if row["holder_id"] is not None else None,
        "taken_at": _iso(row["taken_at"]),
        "held_until": _iso(row["held_until"]),
        "closed_at": _iso(row["closed_at"]),
        "closed_by": _person_json(row["closed_by"], row["closed_by_name"]) if row["closed_by"] is not None else None,
        "disposition": row["disposition"],
        "false_alarm_cause": row["false_alarm_cause"],
        "disposition_note": row["disposition_note"],
    }


def _fits(value: object, schema: Schema) -> bool:
    """Whether a stored detail value has the JSON type the document declares (an older writer's odd value is left
    out rather than breaking the contract)."""
    kinds = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
    if "enum" in schema and value not in schema["enum"]:
        return False
    checks = {
        "null": value is None,
        "boolean": isinstance(value, bool),
        "integer": isinstance(value, int) and not isinstance(value, bool),
        "string": isinstance(value, str),
        "array": isinstance(value, list) and all(isinstance(v, int) and not isinstance(v, bool) for v in value),
    }
    return any(checks[kind] for kind in kinds)


def detail_json(kind: ActionKind, detail: Mapping[str, Any]) -> dict[str, Any]:
    return {
        name: detail[name]
        for name in DETAIL_FIELDS.get(kind, ())
        if name in detail and _fits(detail[name], _DETAIL_TYPES[name])
    }


def action_json(action: Action) -> dict[str, Any]:
    return {
        "id": action.id,
        "at": _iso(action.at),
        "kind": action.kind.value,
        "by": _person_json(action.user_id, action.user_name),
        "customer_visible": action.customer_visible,
        "detail": detail_json(action.kind, action.detail),
    }


@routes.get("/api/v1/incidents", name="api.incidents")
@access(*HANDLERS)
@operation(
    "Open or closed incidents, newest first, a page at a time",
    description="Open incidents newest opened first, closed ones newest closed first (the console's queue order, "
    "by priority, changes as signals join: a list paged by it could repeat or skip one). Paged by keyset like "
    "the signals: `next_after` is the `after` of the next page. An unknown or repeated parameter is refused.",
    parameters=LIST_PARAMETERS,
    responses={
        200: Reply("A page of incidents.", INCIDENTS_PAGE),
        400: Reply("A parameter is not valid; `parameter` names it.", PARAMETER_ERROR),
    },
    tags=("incidents",),
)
async def incidents(request: web.Request) -> web.StreamResponse:
    try:
        values = single_values(request.query, LIST_PARAMETERS)
        status = values.get("status", "open")
        if status not in queries.STATUSES:
            raise BadParameter("status", f"one of {', '.join(queries.STATUSES)}")
        limit = parse_limit(values.get("limit"))
        listing = f"incidents:{status}"
        after = parse_after(request, listing, values.get("after"))
    except BadParameter as error:
        return bad_parameter(error)
    start = (after.at, after.id) if after is not None else None
    async with request.app[pool_key].acquire() as connection:
        rows = await queries.incidents_page(connection, status, start, limit + 1)
    shown = rows[:limit]
    last = Position(shown[-1][queries.SORTED_BY[status]], shown[-1]["id"]) if len(rows) > limit else None
    return web.json_response(page_json([incident_json(row) for row in shown], next_after(request, listing, last)))


@routes.get("/api/v1/incidents/{id}", name="api.incident")
@access(*HANDLERS)
@operation(
    "One incident with its signals (each with its role) and its audit trail (who, when, what)",
    parameters=(path_parameter("id", {"type": "integer", "minimum": 1}, "The incident's id."),),
    responses={
        200: Reply("The incident.", INCIDENT_DETAIL),
        404: Reply("No incident has this id.", ERROR),
    },
    tags=("incidents",),
)
async def incident(request: web.Request) -> web.StreamResponse:
    incident_id = path_id(request, "id")
    async with request.app[pool_key].acquire() as connection:
        row = await queries.incident_by_id(connection, incident_id)
        if row is None:
            return web.json_response({"error": f"no incident has id {incident_id}"}, status=404)
        timeline = await queries.timeline_of(connection, incident_id)
        actions = await actions_of(connection, incident_id)
    return web.json_response(
        {
            "incident": incident_json(row),
            "timeline": [{"role": entry["role"], "signal": signal_json(entry)} for entry in timeline],
            "actions": [action_json(action) for action in actions],
        }
    )
