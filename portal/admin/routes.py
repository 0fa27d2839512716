"""Wiring of the admin pages: routes and the admin menu entries."""

from __future__ import annotations

from aiohttp import web

from portal.admin import billing, outbox, tokens, views
from portal.keys import navigation_key
from portal.navigation import NavItem


def setup(app: web.Application) -> None:
    app.router.add_routes(views.routes)
    app.router.add_routes(outbox.routes)
    app.router.add_routes(tokens.routes)
    app.router.add_routes(billing.routes)
    navigation = app[navigation_key]
    for label, route, order in (
        ("New customer", "admin.customer_new", 20),
        ("Staff users", "admin.staff", 30),
        ("Billing", "admin.billing", 35),
        ("E-mail outbox", "admin.outbox", 40),
        ("API tokens", "admin.api_tokens", 50),
    ):
        navigation.add(NavItem(label, route, "side", section=route, order=order))
