"""Wiring of the Billing Center: its routes, menu entries, dashboard tabs and card, and the app's payment gateway."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from aiohttp import web

from portal.auth.model import Permission
from portal.auth.rules import Access, Rule
from portal.billing import autopay, center, history, methods, pay, queries, staff
from portal.billing.common import today_in
from portal.billing.ownership import INVOICE_NUMBER
from portal.dashboard.tabs import DashboardTab
from portal.keys import (
    config_key,
    dashboard_cards_key,
    dashboard_tabs_key,
    gateway_key,
    grantable_permissions_key,
    navigation_key,
    ownership_proofs_key,
    pool_key,
)
from portal.navigation import NavItem
from shared.billing.gateway import gateway_from_config
from shared.billing.invoices import list_invoices
from shared.config import Config
from shared.db import Connection
from shared.scope import CustomerScope

# Each page module's RouteTableDef; a module joins the Billing Center by being listed here.
VIEWS = (center, pay, history, methods, autopay)
# The dashboard tabs list a few rows each and link to the full page.
TAB_ROWS = 10
CUSTOMERS = Rule(Access.CUSTOMER)


async def payment_gateway(app: web.Application) -> AsyncIterator[None]:
    """One gateway per app, on the pool (the sandbox keeps its records in the database): after database_pool."""
    app[gateway_key] = gateway_from_config(app[config_key], app[pool_key])
    yield


def dashboard_tabs(config: Config) -> list[DashboardTab]:
    async def due(connection: Connection, scope: CustomerScope) -> dict[str, Any]:
        invoices = await list_invoices(connection, scope, which="due", limit=TAB_ROWS)
        return {"invoices": invoices, "today": today_in(config)}

    async def paid(connection: Connection, scope: CustomerScope) -> dict[str, Any]:
        return {"invoices": await list_invoices(connection, scope, which="paid", limit=TAB_ROWS)}

    async def receipts(connection: Connection, scope: CustomerScope) -> dict[str, Any]:
        return {"receipts": await queries.receipts(connection, scope, limit=TAB_ROWS)}

    return [
        DashboardTab("invoices-due", "Invoices due", CUSTOMERS, "billing/_tab_due.html", due, order=10),
        DashboardTab("paid-invoices", "Paid invoices", CUSTOMERS, "billing/_tab_paid.html", paid, order=20),
        DashboardTab("receipts", "Receipts", CUSTOMERS, "billing/_tab_receipts.html", receipts, order=30),
    ]


def summary_card(config: Config) -> DashboardTab:
    async def summary(connection: Connection, scope: CustomerScope) -> dict[str, Any]:
        return await center.summary(connection, scope, today=today_in(config))

    return DashboardTab("billing", "Billing", CUSTOMERS, "billing/_summary.html", summary, order=10)


def setup(app: web.Application) -> None:
    for view in VIEWS:
        app.router.add_routes(view.routes)
    app[ownership_proofs_key].add(INVOICE_NUMBER)  # registration by invoice number (C1)
    app.cleanup_ctx.append(payment_gateway)  # after portal.app's database_pool, whose pool it uses
    app[grantable_permissions_key][Permission.MANAGE_PAYMENT_METHODS] = "Manage payment methods and autopay"
    app[navigation_key].add(NavItem("Billing Center", "billing", "top", section="billing", order=10))
    if "billing.methods" in app.router:  # the payment methods pages (portal/billing/methods.py)
        app[navigation_key].add(
            NavItem("Payment methods", "billing.methods", "side", section="billing.methods", order=20)
        )
    config = app[config_key]
    for tab in dashboard_tabs(config):
        app[dashboard_tabs_key].add(tab)
    app[dashboard_cards_key].add(summary_card(config))
    staff.setup(app)  # staff billing: its routes and the Billing section of the customer record (H7)
