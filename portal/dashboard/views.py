"""The customer's dashboard (C3): account, premises and panels, the latest signals, and the features' tabs."""

from __future__ import annotations

from aiohttp import web

from portal.auth.access import Access, access, rule_of, scope_of, viewer_of
from portal.auth.model import Viewer
from portal.dashboard import queries
from portal.keys import dashboard_cards_key, dashboard_tabs_key, pool_key
from portal.render import render
from shared.signal_queries import recent_signals

routes = web.RouteTableDef()
RECENT_SIGNALS = 10
# The quick options under the welcome: (label, route), each shown only when its route admits the viewer.
QUICK_OPTIONS = (("Make a payment & view invoices", "billing"),)


def quick_options(request: web.Request, viewer: Viewer) -> list[tuple[str, str]]:
    """The quick options whose route exists and admits the viewer (no dead links)."""
    shown = []
    for label, name in QUICK_OPTIONS:
        if name not in request.app.router:
            continue
        handlers = [route.handler for route in request.app.router[name] if route.method == "GET"]
        rule = rule_of(handlers[0]) if handlers else None
        if rule is not None and rule.admits(viewer):
            shown.append((label, name))
    return shown


@routes.get("/dashboard", name="dashboard")
@access(Access.CUSTOMER)
async def dashboard(request: web.Request) -> web.StreamResponse:
    scope, viewer = scope_of(request), viewer_of(request)
    tabs = request.app[dashboard_tabs_key].for_viewer(viewer)
    chosen = next((t for t in tabs if t.key == request.query.get("tab")), tabs[0] if tabs else None)
    async with request.app[pool_key].acquire() as connection:
        account = await queries.account_summary(connection, scope)
        premises = await queries.premises_with_panels(connection, scope)
        signals = await recent_signals(connection, scope, RECENT_SIGNALS)
        tab_context = await chosen.load(connection, scope) if chosen else {}
        cards = [
            (card, await card.load(connection, scope)) for card in request.app[dashboard_cards_key].for_viewer(viewer)
        ]
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
            "cards": cards,
            "quick_options": quick_options(request, viewer),
        },
    )
