"""Wiring of the feature: its routes, menu entries and contributions to shared registries."""

from __future__ import annotations

from aiohttp import web

from portal.auth.model import Permission
from portal.keys import grantable_permissions_key, navigation_key
from portal.navigation import NavItem
from portal.users import views


def setup(app: web.Application) -> None:
    app.router.add_routes(views.routes)
    app[grantable_permissions_key][Permission.MANAGE_USERS] = "Manage users"
    app[navigation_key].add(NavItem("Users", "users", "side", section="users", order=30))
