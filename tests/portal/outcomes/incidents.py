"""An incident of a customer as the opener and a dispatcher leave it, written directly (the tests of the customer's
account of it need its rows, not the console): one alarm signal that opened it, its restore, and audit actions —
some customer-visible, with details that carry what the customer must never read (a phone number, the verbal
passcode, an internal note)."""

from __future__ import annotations

import json
from typing import Any

from shared.db import Connection
from tests.portal.conftest import Customer

PHONE = "555-0123-999"
PASSCODE = "bluebird-42"
INTERNAL_NOTE = "Keyholder sounded drunk, check next time"
CLOSING_NOTE = "Dispatcher-only closing remark"


async def add_incident_signal(
    connection: Connection, customer: Customer, *, code: str, qualifier: str, description: str, seconds_ago: float
) -> int:
    signal_id: int = await connection.fetchval(
        "INSERT INTO signals (account, panel_id, site_id, customer_id, transport, sequence, format, code, qualifier, "
        "zone, category, priority, description, raw_frame, received_at) "
        "VALUES ($1, $2, $3, $4, 'tcp', $5, 'ADM-CID', $6, $7, '004', 'alarm', 3, $8, '\\x00', "
        "now() - make_interval(secs => $9)) RETURNING id",
        customer.account,
        customer.panel_id,
        customer.site_id,
        customer.customer_id,
        f"{int(seconds_ago) % 10000:04d}",
        code,
        qualifier,
        description,
        seconds_ago,
    )
    return signal_id


async def action(
    connection: Connection, incident_id: int, kind: str, detail: dict[str, Any], *, visible: bool, user: str = ""
) -> None:
    await connection.execute(
        "INSERT INTO incident_actions (incident_id, kind, detail, customer_visible, user_name) "
        "VALUES ($1, $2, $3::text::jsonb, $4, $5)",
        incident_id,
        kind,
        json.dumps(detail),
        visible,
        user,
    )


async def make_incident(
    connection: Connection, customer: Customer, *, closed: bool = True, actions: bool = True
) -> int:
    """A burglary alarm incident with its restore and a contact on the call list; with `actions`, handled (a call,
    a dispatch, notes) and, if `closed`, closed as a false alarm caused by user error. Returns its id."""
    opened = await add_incident_signal(
        connection, customer, code="130", qualifier="event", description="Burglary alarm", seconds_ago=600
    )
    restore = await add_incident_signal(
        connection, customer, code="130", qualifier="restore", description="Burglary alarm restored", seconds_ago=300
    )
    incident_id: int = await connection.fetchval(
        "INSERT INTO incidents (kind, account, panel_id, site_id, customer_id, premises_key, priority, alarm_type, "
        "title, opened_at, first_signal_id, last_signal_at, signal_count, restored_at) "
        "VALUES ('alarm', $1, $2, $3, $4, $5, 3, 'burglary', 'Burglary alarm', now() - interval '600 seconds', $6, "
        "now() - interval '300 seconds', 2, now() - interval '300 seconds') RETURNING id",
        customer.account,
        customer.panel_id,
        customer.site_id,
        customer.customer_id,
        f"site:{customer.site_id}",
        opened,
    )
    await connection.execute(
        "INSERT INTO incident_signals (incident_id, signal_id, received_at, role) "
        "SELECT $1, id, received_at, CASE WHEN id = $2 THEN 'opened' ELSE 'restore' END FROM signals "
        "WHERE id = ANY($3::bigint[])",
        incident_id,
        opened,
        [opened, restore],
    )
    contact_id = await connection.fetchval(
        "INSERT INTO call_list_contacts (customer_id, site_id, position, name, phone) "
        "SELECT $1, $2, coalesce(max(position), 0) + 1, 'Ann Keyholder', $3 FROM call_list_contacts WHERE site_id = $2 "
        "RETURNING id",
        customer.customer_id,
        customer.site_id,
        PHONE,
    )
    await action(connection, incident_id, "opened", {}, visible=False)
    if not actions:
        return incident_id
    await action(connection, incident_id, "taken", {}, visible=False, user="Dana Dispatcher")
    await action(
        connection,
        incident_id,
        "call",
        {
            "contact_id": contact_id,
            "phone": PHONE,
            "outcome": "answered",
            "note": INTERNAL_NOTE,
            "passcode_verified": True,
            "passcode": PASSCODE,
        },
        visible=True,
        user="Dana Dispatcher",
    )
    await action(connection, incident_id, "call", {"phone": PHONE, "outcome": "no_answer"}, visible=True)
    await action(connection, incident_id, "note", {"text": INTERNAL_NOTE}, visible=False)
    await action(connection, incident_id, "note", {"text": INTERNAL_NOTE}, visible=True)  # even marked: not told
    await action(connection, incident_id, "dispatch", {"service": "police", "note": INTERNAL_NOTE}, visible=True)
    if closed:
        await action(
            connection,
            incident_id,
            "closed",
            {"disposition": "false_alarm", "cause": "user_error", "note": CLOSING_NOTE},
            visible=True,
        )
        await connection.execute(
            "UPDATE incidents SET status = 'closed', closed_at = now(), disposition = 'false_alarm', "
            "false_alarm_cause = 'user_error', disposition_note = $2 WHERE id = $1",
            incident_id,
            CLOSING_NOTE,
        )
    return incident_id
