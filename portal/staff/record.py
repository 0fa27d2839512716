"""The ground floor's parts of a customer's staff record: premises and panels, portal logins, latest signals."""

from __future__ import annotations

from typing import Any

from portal.auth.rules import Access, Rule
from portal.staff import queries
from portal.staff.sections import StaffSection, StaffSections
from shared.db import Connection
from shared.scope import CustomerScope
from shared.signal_queries import recent_signals

STAFF_RECENT_SIGNALS = 20


async def premises(connection: Connection, scope: CustomerScope) -> dict[str, Any]:
    sites: dict[int, dict[str, Any]] = {}
    for row in await queries.sites_and_panels(connection, scope):
        site = sites.setdefault(row["site_id"], {"row": row, "panels": []})
        if row["panel_id"] is not None:
            site["panels"].append(row)
    return {"sites": list(sites.values())}


async def logins(connection: Connection, scope: CustomerScope) -> dict[str, Any]:
    return {"users": await queries.users_of(connection, scope)}


async def signals(connection: Connection, scope: CustomerScope) -> dict[str, Any]:
    return {"signals": await recent_signals(connection, scope, STAFF_RECENT_SIGNALS)}


def add_sections(sections: StaffSections) -> None:
    staff = Rule(Access.STAFF)
    sections.add(StaffSection("premises", "Premises and panels", staff, "staff/_premises.html", premises, order=10))
    sections.add(StaffSection("logins", "Portal logins", staff, "staff/_logins.html", logins, order=20))
    sections.add(StaffSection("signals", "Latest signals", staff, "staff/_signals.html", signals, order=90))
