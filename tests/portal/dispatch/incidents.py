"""Incidents for the handling tests, written straight into the tables sql/0021 defines (the opener's work is not
needed to test what dispatchers do with them): signals of an enrolled premises or of an unknown account, an open
incident holding them, a call list with its verbal passcode, and staff logins."""

from __future__ import annotations

import itertools
from collections.abc import Sequence

from shared.db import Connection
from shared.events import INCIDENTS, IncidentsChanged, notify
from shared.incidents.handling import Staff
from shared.incidents.model import premises_key
from tests.portal.conftest import Customer

_SEQUENCES = itertools.count(1)
PASSCODE = "bluebird-42"


async def signal(
    connection: Connection,
    *,
    account: str,
    customer: Customer | None = None,
    code: str = "130",
    qualifier: str = "event",
    category: str = "alarm",
    alarm_type: str | None = "burglary",
    priority: int = 3,
    description: str = "Burglary alarm",
    seconds_ago: float = 60,
) -> int:
    """One stored signal, of `customer`'s panel or (None) of an unknown account."""
    signal_id: int = await connection.fetchval(
        "INSERT INTO signals (account, panel_id, site_id, customer_id, transport, sequence, format, code, qualifier, "
        "zone, category, alarm_type, priority, description, raw_frame, received_at) "
        "VALUES ($1, $2, $3, $4, 'tcp', $5, 'ADM-CID', $6, $7, '001', $8, $9, $10, $11, '\\x00', "
        "now() - make_interval(secs => $12)) RETURNING id",
        account,
        customer.panel_id if customer else None,
        customer.site_id if customer else None,
        customer.customer_id if customer else None,
        f"{next(_SEQUENCES) % 10000:04d}",
        code,
        qualifier,
        category,
        alarm_type,
        priority,
        description,
        seconds_ago,
    )
    return signal_id


async def incident(
    connection: Connection,
    customer: Customer | None,
    signal_ids: Sequence[int],
    *,
    account: str | None = None,
    priority: int = 3,
    title: str = "Burglary alarm",
    holder_id: int | None = None,
) -> int:
    """An open incident of the premises (or, `customer` None, of the unknown `account`) holding `signal_ids`, the
    first of which opened it."""
    kind = "alarm" if customer else "unknown_account"
    acct = customer.account if customer else account
    assert acct is not None
    first = await connection.fetchrow("SELECT id, received_at FROM signals WHERE id = $1", signal_ids[0])
    incident_id: int = await connection.fetchval(
        "INSERT INTO incidents (kind, account, panel_id, site_id, customer_id, premises_key, priority, alarm_type, "
        "title, opened_at, first_signal_id, last_signal_at, signal_count, holder_id, taken_at) "
        "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $10, $12, $13, "
        "CASE WHEN $13::bigint IS NOT NULL THEN now() END) RETURNING id",
        kind,
        acct,
        customer.panel_id if customer else None,
        customer.site_id if customer else None,
        customer.customer_id if customer else None,
        premises_key(customer.site_id if customer else None, acct),
        priority,
        "burglary" if customer else None,
        title,
        first["received_at"],
        first["id"],
        len(signal_ids),
        holder_id,
    )
    await connection.execute(
        "INSERT INTO incident_signals (incident_id, signal_id, received_at, role) "
        "SELECT $1, id, received_at, CASE WHEN id = $2 THEN 'opened' "
        "WHEN qualifier = 'restore' THEN 'restore' ELSE 'joined' END FROM signals WHERE id = ANY($3::bigint[])",
        incident_id,
        signal_ids[0],
        list(signal_ids),
    )
    await connection.execute(
        "INSERT INTO incident_actions (incident_id, kind, detail) VALUES ($1, 'opened', '{}')", incident_id
    )
    await notify(connection, INCIDENTS, IncidentsChanged((incident_id,)))  # as every writer of incidents does
    return incident_id


async def alarm_incident(connection: Connection, customer: Customer, **kwargs: object) -> int:
    """A burglary alarm at `customer`'s premises, open and held by nobody."""
    first = await signal(connection, account=customer.account, customer=customer)
    return await incident(connection, customer, [first], **kwargs)  # type: ignore[arg-type]


async def contact(connection: Connection, customer: Customer, name: str, phone: str) -> int:
    """`name` added at the end of the premises' call list."""
    contact_id: int = await connection.fetchval(
        "INSERT INTO call_list_contacts (customer_id, site_id, position, name, phone) "
        "SELECT $1, $2, coalesce(max(position), 0) + 1, $3, $4 FROM call_list_contacts WHERE site_id = $2 "
        "RETURNING id",
        customer.customer_id,
        customer.site_id,
        name,
        phone,
    )
    return contact_id


async def set_passcode(connection: Connection, customer: Customer, passcode: str = PASSCODE) -> None:
    await connection.execute(
        "INSERT INTO site_passcodes (site_id, passcode) VALUES ($1, $2) "
        "ON CONFLICT (site_id) DO UPDATE SET passcode = EXCLUDED.passcode",
        customer.site_id,
        passcode,
    )


async def staff(connection: Connection, email: str) -> Staff:
    row = await connection.fetchrow(
        "SELECT id, coalesce(nullif(name, ''), email) AS name FROM users WHERE email = $1", email
    )
    assert row is not None, email
    return Staff(row["id"], row["name"])
