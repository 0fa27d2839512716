"""SQL of the customer's account of an incident, always within the CustomerScope.

What the customer may read is chosen here, not by the template: the incident's own columns (never its
disposition_note, which is the dispatcher's), its signals, and of the audit trail only the actions marked
customer_visible, of the kinds the page tells (dispatch, call, closed), each reduced to the values the page words
(a service, a call's outcome and, for a contact of the call list, their name). Phone numbers, the verbal passcode, notes
and staff names are never read out of the detail, whatever a writer put in it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from shared.catalogue import SignalLine, present
from shared.db import Connection
from shared.errors import NotFound
from shared.incidents.model import (
    CALL_OUTCOME_LABELS,
    DISPOSITION_LABELS,
    FALSE_ALARM_CAUSE_LABELS,
    SERVICE_LABELS,
    ActionKind,
    CallOutcome,
    Disposition,
    FalseAlarmCause,
    IncidentKind,
    IncidentStatus,
    Service,
)
from shared.scope import CustomerScope

NOT_FOUND: Final = "That incident was not found."
# The actions the customer's account tells, of those marked customer_visible.
TOLD: Final = (ActionKind.DISPATCH.value, ActionKind.CALL.value, ActionKind.CLOSED.value)


@dataclass(frozen=True, slots=True)
class Step:
    """One thing done, in words: "Police dispatched", "We called Ann Smith: no answer"."""

    at: datetime
    kind: ActionKind
    text: str


@dataclass(frozen=True, slots=True)
class Outcome:
    """An incident as its customer reads it."""

    id: int
    kind: IncidentKind
    title: str
    premises: str
    address: str
    opened_at: datetime
    restored_at: datetime | None
    closed_at: datetime | None
    disposition: str  # in words ("False alarm"), "" while open
    cause: str  # a false alarm's cause in words, or ""
    signals: list[SignalLine]
    steps: list[Step]

    @property
    def is_open(self) -> bool:
        return self.closed_at is None

    @property
    def dispatches(self) -> list[Step]:
        return [step for step in self.steps if step.kind is ActionKind.DISPATCH]


def _label(labels: Any, enum: Any, value: object) -> str:
    """A stored value in the model's words; "" for a value this version does not know."""
    try:
        return str(labels[enum(value)])
    except (ValueError, KeyError):
        return ""


def _detail(value: Any) -> dict[str, Any]:
    # The pool decodes jsonb (shared.db); a bare connection hands back the text.
    if isinstance(value, str):
        value = json.loads(value)
    return value if isinstance(value, dict) else {}


def _step(row: Any, contact_names: dict[int, str]) -> Step | None:
    kind = ActionKind(row["kind"])
    detail = _detail(row["detail"])
    if kind is ActionKind.DISPATCH:
        service = _label(SERVICE_LABELS, Service, detail.get("service"))
        return Step(row["at"], kind, f"{service} dispatched" if service else "Help dispatched")
    if kind is ActionKind.CALL:
        outcome = _label(CALL_OUTCOME_LABELS, CallOutcome, detail.get("outcome"))
        contact_id = detail.get("contact_id")
        name = None
        if isinstance(contact_id, int):  # a contact of the call list: their name as it was then, or as it is now
            snapshot = detail.get("name")
            name = snapshot if isinstance(snapshot, str) and snapshot else contact_names.get(contact_id)
        whom = f"We called {name}" if name else "We made a call"
        return Step(row["at"], kind, f"{whom}: {outcome.lower()}" if outcome else whom)
    if kind is ActionKind.CLOSED:
        disposition = _label(DISPOSITION_LABELS, Disposition, detail.get("disposition"))
        return Step(row["at"], kind, f"Closed: {disposition}" if disposition else "Closed")
    return None


async def outcome_of(connection: Connection, scope: CustomerScope, incident_id: int) -> Outcome:
    """The customer's account of their incident; NotFound for anyone else's (or an unknown account's)."""
    incident = await connection.fetchrow(
        "SELECT i.id, i.kind, i.status, i.title, i.opened_at, i.restored_at, i.closed_at, i.disposition, "
        "i.false_alarm_cause, coalesce(s.name, '') AS premises, coalesce(s.address, '') AS address "
        "FROM incidents i LEFT JOIN sites s ON s.id = i.site_id AND s.customer_id = i.customer_id "
        "WHERE i.id = $1 AND i.customer_id = $2",
        incident_id,
        scope.customer_id,
    )
    if incident is None:
        raise NotFound(NOT_FOUND)
    signals = await connection.fetch(
        "SELECT s.id, s.received_at, s.account, s.category, s.qualifier, s.description, s.code, s.zone, "
        "s.partition, s.user_number FROM incident_signals x "
        "JOIN signals s ON s.id = x.signal_id AND s.customer_id = $2 "
        "WHERE x.incident_id = $1 ORDER BY s.received_at, s.id",
        incident_id,
        scope.customer_id,
    )
    actions = await connection.fetch(
        "SELECT at, kind, detail FROM incident_actions "
        "WHERE incident_id = $1 AND customer_visible AND kind = ANY($2::text[]) ORDER BY at, id",
        incident_id,
        list(TOLD),
    )
    contact_ids = {
        d["contact_id"] for d in (_detail(a["detail"]) for a in actions) if isinstance(d.get("contact_id"), int)
    }
    contact_names: dict[int, str] = {}
    if contact_ids:
        rows = await connection.fetch(
            "SELECT id, name FROM call_list_contacts WHERE id = ANY($1::bigint[]) AND customer_id = $2",
            sorted(contact_ids),
            scope.customer_id,
        )
        contact_names = {row["id"]: row["name"] for row in rows}
    steps = [step for step in (_step(row, contact_names) for row in actions) if step is not None]
    closed = incident["status"] == IncidentStatus.CLOSED.value
    return Outcome(
        id=incident["id"],
        kind=IncidentKind(incident["kind"]),
        title=incident["title"],
        premises=incident["premises"],
        address=incident["address"],
        opened_at=incident["opened_at"],
        restored_at=incident["restored_at"],
        closed_at=incident["closed_at"] if closed else None,
        disposition=_label(DISPOSITION_LABELS, Disposition, incident["disposition"]) if closed else "",
        cause=_label(FALSE_ALARM_CAUSE_LABELS, FalseAlarmCause, incident["false_alarm_cause"]) if closed else "",
        signals=[present(row) for row in signals],
        steps=steps,
    )
