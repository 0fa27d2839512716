"""Wiring of System test: its page and forms, the side-menu entry, the dashboard card shown while a premises is on
test, and TEST_SYSTEM among the permissions an owner may grant on the Users page."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from portal.auth.model import Permission
from portal.auth.rules import Access, Rule
from portal.dashboard.tabs import DashboardTab
from portal.keys import dashboard_cards_key, grantable_permissions_key, navigation_key
from portal.navigation import NavItem
from portal.system_test import views
from shared.db import Connection
from shared.incidents import system_tests
from shared.scope import CustomerScope


async def on_test_now(connection: Connection, scope: CustomerScope) -> dict[str, Any]:
    return {"active": await system_tests.active_tests(connection, scope)}


# Shown on the dashboard to every user of the customer while a premises is on test (the card is empty otherwise):
# nobody should be surprised that an alarm got no response.
DASHBOARD_CARD = DashboardTab(
    "system-test", "System test", Rule(Access.CUSTOMER), "system_test/_card.html", on_test_now, order=5
)


def setup(app: web.Application) -> None:
    app.router.add_routes(views.routes)
    app[grantable_permissions_key][Permission.TEST_SYSTEM] = "Put the system on test"
    app[navigation_key].add(NavItem("System test", "system_test", "side", section="system_test", order=45))
    app[dashboard_cards_key].add(DASHBOARD_CARD)
