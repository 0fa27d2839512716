"""The Billing Center's home (/billing): balance due, credit, invoices due to tick and pay, autopay, history links."""

from __future__ import annotations

from datetime import date
from typing import Any

from aiohttp import web

from portal.auth.access import Access, access, scope_of
from portal.billing.common import today_of
from portal.keys import pool_key
from portal.render import render
from shared.billing.autopay import autopay_status
from shared.billing.invoices import list_invoices
from shared.billing.ledger import balance_due, credit_available
from shared.db import Connection
from shared.scope import CustomerScope

routes = web.RouteTableDef()


async def summary(connection: Connection, scope: CustomerScope, *, today: date) -> dict[str, Any]:
    """What the home page and the dashboard's billing card show: balance due, credit, autopay."""
    return {
        "balance": await balance_due(connection, scope.customer_id),
        "credit": await credit_available(connection, scope.customer_id),
        "autopay": await autopay_status(connection, scope, today=today),
        "today": today,
    }


@routes.get("/billing", name="billing")
@access(Access.CUSTOMER)
async def billing_center(request: web.Request) -> web.StreamResponse:
    scope, today = scope_of(request), today_of(request)
    async with request.app[pool_key].acquire() as connection:
        context = await summary(connection, scope, today=today)
        context["invoices"] = await list_invoices(connection, scope, which="due")
    return await render(request, "billing/index.html", context)
