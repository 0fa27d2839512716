"""Wiring of the staff pages: routes, the staff menu, and the record's own sections."""

from __future__ import annotations

from aiohttp import web

from portal.keys import navigation_key, staff_sections_key
from portal.navigation import NavItem
from portal.staff import record, views


def setup(app: web.Application) -> None:
    app.router.add_routes(views.routes)
    app[navigation_key].add(NavItem("Customers", "staff", "side", section="staff", order=10))
    record.add_sections(app[staff_sections_key])
