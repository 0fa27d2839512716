"""Wiring of the Call list (C12): its pages, the left-menu entry, the dashboard tab, the staff record's section and
the permission an owner may grant."""

from __future__ import annotations

from aiohttp import web

from portal.auth.model import Permission
from portal.call_list import contact, passcode, views
from portal.call_list.record import DASHBOARD_TAB, STAFF_SECTION
from portal.keys import dashboard_tabs_key, grantable_permissions_key, navigation_key, staff_sections_key
from portal.navigation import NavItem


def setup(app: web.Application) -> None:
    for module in (views, contact, passcode):
        app.router.add_routes(module.routes)
    app[grantable_permissions_key][Permission.MANAGE_CALL_LIST] = "Manage the call list"
    app[navigation_key].add(NavItem("Call list", "call_list", "side", section="call_list", order=50))
    app[dashboard_tabs_key].add(DASHBOARD_TAB)
    app[staff_sections_key].add(STAFF_SECTION)
