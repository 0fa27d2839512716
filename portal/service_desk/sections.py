"""The service parts of a customer's staff record: its requests (open ones and the latest closed) and its history."""

from __future__ import annotations

from typing import Any

from portal.auth.rules import Access, Rule
from portal.service_desk import present
from portal.staff.sections import StaffSection, StaffSections
from shared.db import Connection
from shared.scope import CustomerScope
from shared.service import requests as service

OPEN_ROWS = 50
RECENT_ROWS = 10
HISTORY_ROWS = 20


async def requests_section(connection: Connection, scope: CustomerScope) -> dict[str, Any]:
    opened = await service.list_requests(connection, scope, open_only=True, limit=OPEN_ROWS)
    latest = await service.list_requests(connection, scope, limit=RECENT_ROWS)
    return {**present.helpers(), "opened": opened, "closed": [r for r in latest if r.closed_at is not None]}


async def history_section(connection: Connection, scope: CustomerScope) -> dict[str, Any]:
    return {"history": await service.service_history(connection, scope, limit=HISTORY_ROWS)}


def add_sections(sections: StaffSections) -> None:
    staff = Rule(Access.STAFF)
    sections.add(
        StaffSection(
            "service-requests", "Service requests", staff, "service_desk/_section_requests.html", requests_section, 40
        )
    )
    sections.add(
        StaffSection(
            "service-history", "Service history", staff, "service_desk/_section_history.html", history_section, 45
        )
    )
