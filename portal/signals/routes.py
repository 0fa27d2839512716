"""Wiring of the feature: its routes, the cursor key, the "Signal history" menu entry and dashboard tab."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

from aiohttp import web

from portal.auth.rules import Access, Rule
from portal.auth.session_key import session_keys
from portal.dashboard.tabs import DashboardTab
from portal.keys import (
    config_key,
    cursor_codec_key,
    dashboard_tabs_key,
    database_url_key,
    export_slots_key,
    history_pool_key,
    navigation_key,
    templates_key,
)
from portal.navigation import NavItem
from portal.signals import views
from portal.signals.table import history_rows
from shared.db import Connection
from shared.scope import CustomerScope
from shared.signal_history import HistoryFilter, history_page, history_pool, premises_of

# The dashboard tab lists the latest few and links to the page.
TAB_ROWS = 10


def dashboard_tab(app: web.Application) -> DashboardTab:
    zone = views.timezone_in(app[config_key])

    async def latest(_connection: Connection, scope: CustomerScope) -> dict[str, Any]:
        async with app[history_pool_key].acquire() as connection:  # the history's statements, in its sessions
            premises = await premises_of(connection, scope)
            page = await history_page(connection, scope, HistoryFilter(zone), limit=TAB_ROWS, premises_known=premises)
        return {"page": page, "several_premises": len(premises) > 1}

    return DashboardTab(
        "signal-history", "Signal history", Rule(Access.CUSTOMER), "signals/_tab.html", latest, order=50
    )


async def database_pool(app: web.Application) -> AsyncIterator[None]:
    pool = await history_pool(app[config_key], app[database_url_key])
    app[history_pool_key] = pool
    yield
    await pool.close()


def setup(app: web.Application) -> None:
    config = app[config_key]
    app.cleanup_ctx.append(database_pool)
    app[cursor_codec_key] = views.cursor_codec(*session_keys(config))
    # At most a third of the pool streams exports; the rest serves pages.
    app[export_slots_key] = asyncio.Semaphore(max(1, config["database.pool_max_size"] // 3))
    app.router.add_routes(views.routes)
    templates = app[templates_key]
    localtime = templates.filters["localtime"]
    templates.globals["history_rows"] = lambda lines, show_premises: history_rows(lines, show_premises, localtime)
    app[navigation_key].add(NavItem("Signal history", "signals", "side", section="signals", order=40))
    app[dashboard_tabs_key].add(dashboard_tab(app))
