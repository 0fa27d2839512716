"""The call list where it is read at a glance: the dashboard tab (the first premises) and the staff record's section
(every premises with its verbal passcode, read fresh on each view)."""

from __future__ import annotations

from typing import Any

from portal.auth.rules import Access, Rule
from portal.call_list.present import describe
from portal.dashboard.tabs import DashboardTab
from portal.staff.sections import StaffSection
from shared.call_list import changes_of, contacts_of, passcode_of, premises_of
from shared.db import Connection
from shared.scope import CustomerScope

STAFF_HISTORY_ROWS = 5


async def first_premises(connection: Connection, scope: CustomerScope) -> dict[str, Any]:
    """The dashboard tab: the first premises' list (never its passcode), and how many premises there are."""
    premises = await premises_of(connection, scope)
    if not premises:
        return {"site": None, "contacts": [], "premises_count": 0}
    return {
        "site": premises[0],
        "contacts": await contacts_of(connection, scope, premises[0].id),
        "premises_count": len(premises),
    }


async def every_premises(connection: Connection, scope: CustomerScope) -> dict[str, Any]:
    """The staff section: each premises' contacts in order, its verbal passcode and its latest changes."""
    sites = []
    for site in await premises_of(connection, scope):
        changes = await changes_of(connection, scope, site.id, with_passcode=True, limit=STAFF_HISTORY_ROWS)
        sites.append(
            {
                "site": site,
                "contacts": await contacts_of(connection, scope, site.id),
                "passcode": await passcode_of(connection, scope, site.id),  # staff see it: the dispatcher asks for it
                "changes": [describe(change) for change in changes],
            }
        )
    return {"sites": sites}


DASHBOARD_TAB = DashboardTab(
    "call-list", "Call list", Rule(Access.CUSTOMER), "call_list/_tab.html", first_premises, order=60
)
STAFF_SECTION = StaffSection(
    "call-list", "Call list", Rule(Access.STAFF), "call_list/staff_section.html", every_premises, order=15
)
