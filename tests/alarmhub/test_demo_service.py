"""The demo set shows the Service Center filled in: monitored services, a call list with a passcode, a service call."""

from __future__ import annotations

from datetime import UTC, datetime

import asyncpg

from shared.demo import DEMO_CUSTOMERS, load_demo_data
from shared.demo_service import DEMO_CONTACTS, DEMO_MONITORED, load_demo_service


async def test_each_demo_customer_has_services_a_call_list_and_a_service_call_once(db: asyncpg.Pool) -> None:
    async with db.acquire() as connection:
        await load_demo_data(connection)
        for account in DEMO_MONITORED:  # a second load adds nothing
            await load_demo_service(connection, account, today=datetime.now(UTC).date())
    for _, _, account, *_ in DEMO_CUSTOMERS:
        row = await db.fetchrow(
            """SELECT p.monitored_services, s.id AS site_id, s.customer_id,
                      (SELECT count(*) FROM call_list_contacts c WHERE c.site_id = s.id) AS contacts,
                      (SELECT passcode FROM site_passcodes sp WHERE sp.site_id = s.id) AS passcode,
                      (SELECT count(*) FROM service_requests r WHERE r.customer_id = s.customer_id) AS requests,
                      (SELECT count(*) FROM service_history h WHERE h.customer_id = s.customer_id) AS history
                 FROM panels p JOIN sites s ON s.id = p.site_id WHERE p.account = $1""",
            account,
        )
        assert row["monitored_services"] == DEMO_MONITORED[account]
        assert (row["contacts"], row["requests"], row["history"]) == (len(DEMO_CONTACTS), 1, 1)
        assert row["passcode"]
    statuses = await db.fetch("SELECT DISTINCT status FROM service_requests")
    assert [r["status"] for r in statuses] == ["completed"]
