"""Wiring of the staff pages: routes and the staff menu."""

from __future__ import annotations

from aiohttp import web

from portal.keys import navigation_key
from portal.navigation import NavItem
from portal.staff import views


def setup(app: web.Application) -> None:
    app.router.add_routes(views.routes)
    app[navigation_key].add(NavItem("Customers", "staff", "side", section="staff", order=10))
