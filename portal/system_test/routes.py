"""Wiring of the feature (issue 14, being built): its routes, menu entries and permissions."""

from __future__ import annotations

from aiohttp import web


def setup(app: web.Application) -> None:
    """Nothing yet: the feature's helper fills this in."""
