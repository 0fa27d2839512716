"""Wiring of the feature: its routes, menu entries and contributions to shared registries."""

from __future__ import annotations

from aiohttp import web

from portal.accounts import login, password, register
from portal.accounts.ownership import SECURITY_CODE
from portal.keys import ownership_proofs_key


def setup(app: web.Application) -> None:
    app[ownership_proofs_key].add(SECURITY_CODE)
    for module in (login, register, password):
        app.router.add_routes(module.routes)
