"""Wiring of the console: its routes, the staff menu entry, and the hub that lives as long as the app."""

from __future__ import annotations

from collections.abc import AsyncIterator

from aiohttp import web

from portal.console import views
from portal.console.hub import ConsoleHub
from portal.keys import config_key, database_url_key, navigation_key, pool_key
from portal.navigation import NavItem


async def console_hub(app: web.Application) -> AsyncIterator[None]:
    """One hub per portal process, with its own LISTEN connection; after the pool (appended before this)."""
    config = app[config_key]
    hub = ConsoleHub(
        app[database_url_key],
        app[pool_key],
        rule=views.CONSOLE_RULE,
        queue_size=config["dispatch.console_queue"],
        session_recheck=config["dispatch.session_recheck"],
    )
    app[views.hub_key] = hub
    hub.start()
    yield
    await hub.stop()


async def close_consoles(app: web.Application) -> None:
    """Before the server waits for its handlers: a console's handler lasts as long as its socket."""
    hub = app.get(views.hub_key)
    if hub is not None:
        await hub.close_all(1001, "server shutting down")


def setup(app: web.Application) -> None:
    app.router.add_routes(views.routes)
    app.cleanup_ctx.append(console_hub)
    app.on_shutdown.append(close_consoles)
    # The incident pages (portal/dispatch, "dispatch.*") are reached from the console: its entry stays current there.
    app[navigation_key].add(NavItem("Console", "console", "side", section="console", order=5, also=("dispatch",)))
