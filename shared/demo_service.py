"""Demo data of the Service Center: what each demo panel is monitored for, a call list, and a service call done."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

from shared.db import Connection

# account → what its panels are enrolled to be monitored for (the insurance certificate lists it).
DEMO_MONITORED = {
    "1234": ["burglary", "fire"],
    "5678": ["burglary", "fire", "holdup"],
    "9ABC": ["burglary", "fire", "medical", "panic"],
}
# name, phone, relation, has keys — called in this order when the alarm goes off.
DEMO_CONTACTS = (
    ("Casey Avery", "(555) 010-4477", "Spouse", True),
    ("Morgan Lee", "(555) 010-9821", "Neighbour", True),
    ("Sam Ortiz", "(555) 010-3306", "Friend", False),
)
DEMO_PASSCODE = "bluebird"


async def load_demo_service(connection: Connection, account: str, *, today: date) -> None:
    """For the account's premises: its monitored services, call list and passcode, and one service call performed
    (a completed request with its entry in the service history) — each only where nothing of the kind exists yet."""
    site = await connection.fetchrow(
        "SELECT s.id, s.customer_id FROM panels p JOIN sites s ON s.id = p.site_id WHERE p.account = $1", account
    )
    if site is None:
        return
    site_id, customer_id = site["id"], site["customer_id"]
    await connection.execute(
        "UPDATE panels SET monitored_services = $2 WHERE account = $1 AND monitored_services = '{}'",
        account,
        DEMO_MONITORED.get(account, ["burglary"]),
    )
    if not await connection.fetchval("SELECT EXISTS (SELECT 1 FROM call_list_contacts WHERE site_id = $1)", site_id):
        for position, (name, phone, relation, has_keys) in enumerate(DEMO_CONTACTS, start=1):
            await connection.execute(
                "INSERT INTO call_list_contacts (customer_id, site_id, position, name, phone, relation, has_keys) "
                "VALUES ($1, $2, $3, $4, $5, $6, $7)",
                customer_id,
                site_id,
                position,
                name,
                phone,
                relation,
                has_keys,
            )
    await connection.execute(
        "INSERT INTO site_passcodes (site_id, passcode) VALUES ($1, $2) ON CONFLICT (site_id) DO NOTHING",
        site_id,
        DEMO_PASSCODE,
    )
    if await connection.fetchval("SELECT EXISTS (SELECT 1 FROM service_requests WHERE customer_id = $1)", customer_id):
        return
    contact = await connection.fetchrow("SELECT name, email, phone FROM customers WHERE id = $1", customer_id)
    if contact is None:
        return
    performed = today - timedelta(days=40)
    done_at = datetime.combine(performed, time(15, 30), tzinfo=UTC)
    request_id = await connection.fetchval(
        """INSERT INTO service_requests (customer_id, kind, topic, site_id, contact_name, contact_email,
                                         contact_phone, comments, status, submission_key, created_at, updated_at,
                                         closed_at)
           VALUES ($1, 'service', 'Battery replacement', $2, $3, $4, $5, $6, 'completed', 'demo', $7, $8, $8)
           RETURNING id""",
        customer_id,
        site_id,
        contact["name"],
        contact["email"],
        contact["phone"],
        "The keypad beeps every night: low battery, I think.",
        done_at - timedelta(days=3),
        done_at,
    )
    for action, body, at in (
        ("submitted", "The keypad beeps every night: low battery, I think.", done_at - timedelta(days=3)),
        ("scheduled", "Dana Brooks will visit in the morning.", done_at - timedelta(days=2)),
        ("completed", "Replaced the panel's standby battery (12 V 7 Ah) and tested the system.", done_at),
    ):
        await connection.execute(
            "INSERT INTO service_request_events (request_id, at, author_name, action, body) "
            "VALUES ($1, $2, $3, $4, $5)",
            request_id,
            at,
            "Service desk" if action != "submitted" else contact["name"],
            action,
            body,
        )
    await connection.execute(
        "INSERT INTO service_history (customer_id, request_id, site_id, performed_on, technician, work_performed) "
        "VALUES ($1, $2, $3, $4, 'Dana Brooks', $5)",
        customer_id,
        request_id,
        site_id,
        performed,
        "Replaced the panel's standby battery (12 V 7 Ah) and tested the system.",
    )
