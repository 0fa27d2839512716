"""Wiring of Alarm notifications: its page and form, and the side-menu entry (shown to those who may manage users:
the owner, who changes it, and secondary users allowed to manage users, who see it)."""

from __future__ import annotations

from aiohttp import web

from portal.keys import navigation_key
from portal.navigation import NavItem
from portal.notifications import views


def setup(app: web.Application) -> None:
    app.router.add_routes(views.routes)
    app[navigation_key].add(NavItem("Alarm notifications", "notifications", "side", section="notifications", order=35))
