"""Wiring of the feature: its routes, menu entries and contributions to shared registries."""

from __future__ import annotations

from aiohttp import web


def setup(app: web.Application) -> None:
    """Nothing yet: the feature is being built."""
