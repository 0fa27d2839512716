"""Wiring of the incident page (issue 14, D2): its routes. It has no menu entry: dispatchers reach an incident from
the console's queue (/dispatch)."""

from __future__ import annotations

from aiohttp import web

from portal.dispatch import views


def setup(app: web.Application) -> None:
    app.router.add_routes(views.routes)
