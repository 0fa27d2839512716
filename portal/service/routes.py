"""Wiring of the Service Center (customer side): its pages, the top-navigation entry, the dashboard's Service
history tab and Service requests card."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from portal.auth.rules import Access, Rule
from portal.dashboard.tabs import DashboardTab
from portal.keys import dashboard_cards_key, dashboard_tabs_key, navigation_key
from portal.navigation import NavItem
from portal.service import center, history, inquiries, requests
from shared.db import Connection
from shared.scope import CustomerScope
from shared.service.requests import open_requests, service_history

# Each page module's RouteTableDef; a module joins the Service Center by being listed here.
VIEWS = (center, inquiries, requests, history)
CUSTOMERS = Rule(Access.CUSTOMER)
TAB_ROWS = 10
CARD_ROWS = 5


async def history_tab(connection: Connection, scope: CustomerScope) -> dict[str, Any]:
    return {"entries": await service_history(connection, scope, limit=TAB_ROWS)}


async def requests_card(connection: Connection, scope: CustomerScope) -> dict[str, Any]:
    return {"requests": await open_requests(connection, scope, limit=CARD_ROWS)}


def setup(app: web.Application) -> None:
    for view in VIEWS:
        app.router.add_routes(view.routes)
    app[navigation_key].add(
        NavItem("Service Center", "service", "top", section="service", order=20, also=("certificates",))
    )
    app[dashboard_tabs_key].add(
        DashboardTab(
            "service-history", "Service history", CUSTOMERS, "service/_tab_history.html", history_tab, order=40
        )
    )
    app[dashboard_cards_key].add(
        DashboardTab(
            "service-requests", "Service requests", CUSTOMERS, "service/_card_requests.html", requests_card, order=20
        )
    )
