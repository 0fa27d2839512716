"""Wiring of the admin pages: routes and the admin menu entries."""

from __future__ import annotations

from aiohttp import web

from portal.admin import billing, outbox, tokens, views
from portal.keys import navigation_key, templates_key
from portal.navigation import NavItem
from shared.enrolment import MONITORED_SERVICES


def setup(app: web.Application) -> None:
    app.router.add_routes(views.routes)
    app.router.add_routes(outbox.routes)
    app.router.add_routes(tokens.routes)
    app.router.add_routes(billing.routes)
    # The choices "Monitored for" of the panel forms (admin/_panel_fields.html, also on the staff record).
    app[templates_key].globals["monitored_services"] = MONITORED_SERVICES
    navigation = app[navigation_key]
    for label, route, order in (
        ("New customer", "admin.customer_new", 20),
        ("Staff users", "admin.staff", 30),
        ("Billing", "admin.billing", 35),
        ("E-mail outbox", "admin.outbox", 40),
        ("API tokens", "admin.api_tokens", 50),
    ):
        navigation.add(NavItem(label, route, "side", section=route, order=order))
