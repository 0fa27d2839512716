"""The Set up Autopay page (C6): the standing instruction's status, setting it up or changing it, and stopping it."""

from __future__ import annotations

from typing import Any

from aiohttp import web
from aiohttp_session import get_session

from portal.auth.access import Access, access, scope_of, viewer_of
from portal.auth.model import Permission
from portal.auth.sessions import flash
from portal.billing.common import gateway_of, today_of
from portal.billing.methods import long_date
from portal.forms import FieldErrors, Form, form_view, redirect
from portal.keys import pool_key
from portal.paths import parse_id
from portal.render import render
from shared.billing.autopay import autopay_status as load_autopay_status
from shared.billing.autopay import cancel_autopay, set_up_autopay
from shared.billing.methods import list_methods, method_of
from shared.errors import DomainError

routes = web.RouteTableDef()

DRAFT_DAYS = range(1, 29)  # 1-28: every month has these days
AUTOPAY_PATH = "/billing/autopay"


async def autopay_context(request: web.Request) -> dict[str, Any]:
    scope, today = scope_of(request), today_of(request)
    async with request.app[pool_key].acquire() as connection:
        status = await load_autopay_status(connection, scope, today=today)
        methods = await list_methods(connection, scope)
    gateway = gateway_of(request)
    return {
        "autopay": status,
        # An expired card would only be declined on the draft day: it is not offered.
        "methods": [method for method in methods if not method.expired(today)],
        "expired_count": sum(1 for method in methods if method.expired(today)),
        "draft_days": [(f"{day}", _ordinal(day)) for day in DRAFT_DAYS],
        "can_manage": viewer_of(request).may(Permission.MANAGE_PAYMENT_METHODS),
        "sandbox": gateway.label if gateway.is_sandbox else None,
        "long_date": long_date,
    }


def _ordinal(day: int) -> str:
    suffix = "th" if 11 <= day <= 13 else {1: "st", 2: "nd", 3: "rd"}.get(day % 10, "th")
    return f"{day}{suffix}"


@routes.get(AUTOPAY_PATH, name="billing.autopay")
@access(Access.CUSTOMER)
async def autopay_page(request: web.Request) -> web.StreamResponse:
    context = await autopay_context(request)
    status, methods = context["autopay"], context["methods"]
    # Coming back from "Add a new payment method" (?method_id=) preselects the new method.
    chosen = parse_id(request.query.get("method_id", ""))
    if chosen is None or all(method.id != chosen for method in methods):
        current = status.method.id if status.on and status.method else None
        default = next((method.id for method in methods if method.is_default), None)
        chosen = current or default or (methods[0].id if methods else None)
    form = {"method_id": str(chosen or ""), "draft_day": str(status.draft_day or 1)}
    return await render(request, "billing/autopay.html", {**context, "form": form})


def _read_autopay(form: Form) -> tuple[int, int]:
    fields = FieldErrors()
    method_id = parse_id(form.get("method_id"))
    day = form.get("draft_day")
    with fields.check():
        if method_id is None:
            raise DomainError("please choose the payment method to draft from", field="method_id")
    with fields.check():
        if not (day.isascii() and day.isdigit() and int(day) in DRAFT_DAYS):
            raise DomainError("please choose a draft day from the 1st to the 28th", field="draft_day")
    fields.raise_if_any()
    assert method_id is not None
    return method_id, int(day)


@routes.post(AUTOPAY_PATH, name="billing.autopay")
@access(Access.CUSTOMER, Permission.MANAGE_PAYMENT_METHODS)
@form_view("billing/autopay.html", autopay_context)
async def set_up(request: web.Request, form: Form) -> web.StreamResponse:
    method_id, draft_day = _read_autopay(form)
    scope, today = scope_of(request), today_of(request)
    async with request.app[pool_key].acquire() as connection, connection.transaction():
        # An expired card would only be declined on the draft day: say so now, by the drop-down.
        if (await method_of(connection, scope, method_id)).expired(today):
            raise DomainError(
                "this card has expired: choose another payment method or add a new one", field="method_id"
            )
        status = await set_up_autopay(connection, scope, method_id=method_id, draft_day=draft_day, today=today)
    flash(
        await get_session(request),
        f"Autopay is on: the balance due will be drafted on the {_ordinal(draft_day)} of each month, "
        f"starting {long_date(status.next_draft)}.",
    )
    raise redirect(AUTOPAY_PATH)


@routes.post(AUTOPAY_PATH + "/cancel", name="billing.autopay_cancel")
@access(Access.CUSTOMER, Permission.MANAGE_PAYMENT_METHODS)
@form_view("billing/autopay.html", autopay_context)
async def stop(request: web.Request, form: Form) -> web.StreamResponse:
    async with request.app[pool_key].acquire() as connection, connection.transaction():
        await cancel_autopay(connection, scope_of(request))
    flash(await get_session(request), "Autopay is off. Nothing more will be drafted; pay your invoices as they come.")
    raise redirect(AUTOPAY_PATH)
