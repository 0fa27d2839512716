"""Wiring of the feature: its routes, menu entries and contributions to shared registries."""

from __future__ import annotations

from aiohttp import web

from portal.certificates import staff, verify, views
from portal.keys import config_key, staff_sections_key

# Each page module's RouteTableDef: the customer's page, the public verification, the staff routes.
VIEWS = (views, verify, staff)


def setup(app: web.Application) -> None:
    """The Insurance Certificate page is reached from the Service Center's sub-navigation (H1's
    service/_subnav.html), so it adds no menu entry of its own; staff see the certificates on the customer record."""
    for view in VIEWS:
        app.router.add_routes(view.routes)
    app[staff_sections_key].add(staff.certificates_section(app[config_key]))
