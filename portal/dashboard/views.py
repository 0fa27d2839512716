"""The customer's dashboard (C3): account, premises and panels, the latest signals, and the features' tabs."""

from __future__ import annotations

from aiohttp import web

from portal.auth.access import Access, access, scope_of, viewer_of
from portal.dashboard import queries
from portal.keys import dashboard_tabs_key, pool_key
from portal.render import render
from shared.signal_queries import recent_signals

routes = web.RouteTableDef()
RECENT_SIGNALS = 10


@routes.get("/dashboard", name="dashboard")
@access(Access.CUSTOMER)
async def dashboard(request: web.Request) -> web.StreamResponse:
    scope = scope_of(request)
    tabs = request.app[dashboard_tabs_key].for_viewer(viewer_of(request))
    chosen = next((t for t in tabs if t.key == request.query.get("tab")), tabs[0] if tabs else None)
    async with request.app[pool_key].acquire() as connection:
        account = await queries.account_summary(connection, scope)
        premises = await queries.premises_with_panels(connection, scope)
        signals = await recent_signals(connection, scope, RECENT_SIGNALS)
        tab_context = await chosen.load(connection, scope) if chosen else {}
    return await render(
        request,
        "dashboard/index.html",
        {
            "account": account,
            "premises": premises,
            "accounts": [panel["account"] for site in premises for panel in site.panels],
            "signals": signals,
            "tabs": tabs,
            "tab": chosen,
            "tab_context": tab_context,
        },
    )
