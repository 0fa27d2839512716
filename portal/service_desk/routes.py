"""Wiring of the service desk: its routes, the staff menu entry and the customer record's service sections."""

from __future__ import annotations

from aiohttp import web

from portal.keys import navigation_key, staff_sections_key
from portal.navigation import NavItem
from portal.service_desk import desk, queue, sections


def setup(app: web.Application) -> None:
    app.router.add_routes(queue.routes)
    app.router.add_routes(desk.routes)
    app[navigation_key].add(NavItem("Service requests", "service_desk", "side", section="service_desk", order=20))
    sections.add_sections(app[staff_sections_key])
