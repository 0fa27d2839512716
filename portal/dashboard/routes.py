"""Wiring of the feature: its routes, menu entries and contributions to shared registries."""

from __future__ import annotations

from aiohttp import web

from portal.dashboard import views
from portal.keys import navigation_key
from portal.navigation import NavItem


def setup(app: web.Application) -> None:
    app.router.add_routes(views.routes)
    app[navigation_key].add(NavItem("Dashboard", "dashboard", "side", section="dashboard", order=10))
