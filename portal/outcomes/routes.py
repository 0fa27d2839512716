"""Wiring of "What we did": the incident page a signal history row links to. No menu entry of its own: its route
is named signals.incident, so the Signal history entry stays highlighted on it."""

from __future__ import annotations

from aiohttp import web

from portal.outcomes import views


def setup(app: web.Application) -> None:
    app.router.add_routes(views.routes)
