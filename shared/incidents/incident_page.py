"""What the dispatcher's incident page reads (portal/dispatch): the incident with its account, premises, panel and
customer, its signals and the premises' other signals around it, the call list in calling order with the verbal
passcode, and the audit trail.

For staff only: the passcode and the contacts' numbers are here on purpose (a dispatcher asks for the one and
dials the others); nothing of this module is for a customer's page (theirs is portal/outcomes).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final

import asyncpg

from shared.call_list.queries import Contact, contacts_of, passcode_of
from shared.catalogue import SignalLine, present
from shared.db import Connection
from shared.errors import NotFound
from shared.incidents.model import (
    Action,
    ActionKind,
    Disposition,
    FalseAlarmCause,
    Incident,
    IncidentKind,
    IncidentStatus,
)
from shared.scope import CustomerScope

NOT_FOUND: Final = "That incident was not found."
# The premises' other signals shown around the incident: from this long before it opened to its end (or now).
AROUND: Final = timedelta(hours=2)
AROUND_LIMIT: Final = 50

_INCIDENT: Final = """
SELECT i.id, i.kind, i.status, i.account, i.panel_id, i.site_id, i.customer_id, i.priority, i.alarm_type, i.title,
       i.opened_at, i.last_signal_at, i.signal_count, i.restored_at, i.holder_id,
       coalesce(nullif(h.name, ''), h.email, '') AS holder_name, i.taken_at, i.held_until, i.closed_at,
       i.disposition, i.false_alarm_cause, i.disposition_note,
       coalesce(nullif(cb.name, ''), cb.email, '') AS closed_by_name,
       coalesce(s.name, '') AS site_name, coalesce(s.address, '') AS site_address,
       coalesce(c.name, '') AS customer_name, coalesce(c.email, '') AS customer_email,
       coalesce(c.phone, '') AS customer_phone,
       p.account AS panel_account, coalesce(p.description, '') AS panel_description, p.test_interval,
       p.supervision_interval, p.last_seen_at, p.communication_failed_at
  FROM incidents i
  LEFT JOIN users h ON h.id = i.holder_id
  LEFT JOIN users cb ON cb.id = i.closed_by
  LEFT JOIN sites s ON s.id = i.site_id
  LEFT JOIN customers c ON c.id = i.customer_id
  LEFT JOIN panels p ON p.id = i.panel_id
 WHERE i.id = $1
"""

_SIGNAL_COLUMNS: Final = (
    "s.id, s.received_at, s.account, s.category, s.qualifier, s.description, s.code, s.zone, s.partition, "
    "s.user_number, s.priority"
)


@dataclass(frozen=True, slots=True)
class Place:
    """Where the incident is and whose: empty strings while the account is unknown."""

    customer_name: str
    customer_email: str
    customer_phone: str
    site_name: str
    site_address: str
    panel_account: str | None
    panel_description: str
    test_interval: timedelta | None
    supervision_interval: timedelta | None
    last_seen_at: datetime | None
    communication_failed_at: datetime | None


@dataclass(frozen=True, slots=True)
class IncidentSignal:
    """A signal of the incident and how it came in (opened, joined, restore)."""

    line: SignalLine
    role: str
    priority: int


@dataclass(frozen=True, slots=True)
class IncidentPage:
    incident: Incident
    closed_by_name: str
    place: Place
    signals: list[IncidentSignal]
    around: list[SignalLine]  # the premises' (or the unknown account's) other signals, newest first
    contacts: list[Contact]  # the call list in calling order (empty for an unknown account)
    passcode: str | None  # the premises' verbal passcode, or None
    actions: list[Action]  # the audit trail, oldest first

    @property
    def is_open(self) -> bool:
        return self.incident.status is IncidentStatus.OPEN

    def calls_to(self, contact_id: int) -> list[Action]:
        """The calls recorded to one contact, oldest first."""
        return [a for a in self.actions if a.kind is ActionKind.CALL and a.detail.get("contact_id") == contact_id]

    @property
    def dispatches(self) -> list[Action]:
        """Who was sent, and when (the action's time), oldest first."""
        return [a for a in self.actions if a.kind is ActionKind.DISPATCH]

    @property
    def passcode_verified(self) -> bool:
        return any(a.kind is ActionKind.CALL and a.detail.get("passcode_verified") is True for a in self.actions)


def _detail(value: Any) -> Mapping[str, Any]:
    # The pool decodes jsonb (shared.db); a bare connection hands back the text.
    if isinstance(value, str):
        value = json.loads(value)
    return value if isinstance(value, dict) else {}


def _incident(row: asyncpg.Record) -> Incident:
    return Incident(
        id=row["id"],
        kind=IncidentKind(row["kind"]),
        status=IncidentStatus(row["status"]),
        account=row["account"],
        panel_id=row["panel_id"],
        site_id=row["site_id"],
        customer_id=row["customer_id"],
        priority=row["priority"],
        alarm_type=row["alarm_type"],
        title=row["title"],
        opened_at=row["opened_at"],
        last_signal_at=row["last_signal_at"],
        signal_count=row["signal_count"],
        restored_at=row["restored_at"],
        holder_id=row["holder_id"],
        holder_name=row["holder_name"],
        taken_at=row["taken_at"],
        held_until=row["held_until"],
        closed_at=row["closed_at"],
        disposition=Disposition(row["disposition"]) if row["disposition"] else None,
        false_alarm_cause=FalseAlarmCause(row["false_alarm_cause"]) if row["false_alarm_cause"] else None,
        disposition_note=row["disposition_note"],
    )


async def actions_of(connection: Connection, incident_id: int) -> list[Action]:
    rows = await connection.fetch(
        "SELECT id, incident_id, at, user_id, user_name, kind, detail, customer_visible FROM incident_actions "
        "WHERE incident_id = $1 ORDER BY at, id",
        incident_id,
    )
    return [
        Action(
            id=r["id"],
            incident_id=r["incident_id"],
            at=r["at"],
            user_id=r["user_id"],
            user_name=r["user_name"],
            kind=ActionKind(r["kind"]),
            detail=_detail(r["detail"]),
            customer_visible=r["customer_visible"],
        )
        for r in rows
    ]


async def signals_of(connection: Connection, incident_id: int) -> list[IncidentSignal]:
    rows = await connection.fetch(
        f"SELECT {_SIGNAL_COLUMNS}, x.role FROM incident_signals x JOIN signals s ON s.id = x.signal_id "
        "WHERE x.incident_id = $1 ORDER BY s.received_at, s.id",
        incident_id,
    )
    return [IncidentSignal(present(r), r["role"], r["priority"]) for r in rows]


async def signals_around(connection: Connection, incident: Incident) -> list[SignalLine]:
    """The premises' (an unknown account's: the account's) signals from AROUND before the incident opened to its
    end, not in it, newest first, at most AROUND_LIMIT."""
    start = incident.opened_at - AROUND
    end = incident.closed_at + AROUND if incident.closed_at else None
    key: list[object]
    if incident.customer_id is not None and incident.site_id is not None:
        where, key = "s.customer_id = $1 AND s.site_id = $2", [incident.customer_id, incident.site_id]
    else:
        where, key = "s.account = $1 AND s.panel_id IS NULL AND $2::bigint IS NULL", [incident.account, None]
    rows = await connection.fetch(
        f"SELECT {_SIGNAL_COLUMNS} FROM signals s WHERE {where} AND s.received_at >= $3 "
        "AND ($4::timestamptz IS NULL OR s.received_at <= $4) "
        "AND NOT EXISTS (SELECT 1 FROM incident_signals x WHERE x.signal_id = s.id AND x.incident_id = $5) "
        "ORDER BY s.received_at DESC, s.id DESC LIMIT $6",
        *key,
        start,
        end,
        incident.id,
        AROUND_LIMIT,
    )
    return [present(r) for r in rows]


async def incident_page(connection: Connection, incident_id: int, *, staff_id: int) -> IncidentPage:
    """Everything the dispatcher's page shows; NotFound for an unknown id. `staff_id` is the reader (the call list
    is read in the customer's scope, as staff)."""
    row = await connection.fetchrow(_INCIDENT, incident_id)
    if row is None:
        raise NotFound(NOT_FOUND)
    incident = _incident(row)
    place = Place(
        customer_name=row["customer_name"],
        customer_email=row["customer_email"],
        customer_phone=row["customer_phone"],
        site_name=row["site_name"],
        site_address=row["site_address"],
        panel_account=row["panel_account"],
        panel_description=row["panel_description"],
        test_interval=row["test_interval"],
        supervision_interval=row["supervision_interval"],
        last_seen_at=row["last_seen_at"],
        communication_failed_at=row["communication_failed_at"],
    )
    contacts: list[Contact] = []
    passcode: str | None = None
    if incident.customer_id is not None and incident.site_id is not None:
        scope = CustomerScope(customer_id=incident.customer_id, user_id=staff_id, by_staff=True)
        try:
            contacts = await contacts_of(connection, scope, incident.site_id)
            passcode = await passcode_of(connection, scope, incident.site_id)
        except NotFound:
            pass  # the premises changed hands since: no call list to show
    return IncidentPage(
        incident=incident,
        closed_by_name=row["closed_by_name"],
        place=place,
        signals=await signals_of(connection, incident_id),
        around=await signals_around(connection, incident),
        contacts=contacts,
        passcode=passcode,
        actions=await actions_of(connection, incident_id),
    )
