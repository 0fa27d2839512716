"""Staff billing on a customer's record: the Billing section, the monthly fee, invoices (create, void) and refunds."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from aiohttp import web
from aiohttp_session import get_session

from portal.auth.access import Access, access, staff_scope, viewer_of
from portal.auth.model import Permission
from portal.auth.rules import Rule
from portal.auth.sessions import flash
from portal.billing.common import gateway_of, today_in, today_of
from portal.forms import FieldErrors, Form, form_view, redirect
from portal.keys import config_key, pool_key, staff_sections_key
from portal.paths import path_id
from portal.render import render
from portal.staff import queries as staff_queries
from portal.staff.sections import StaffSection
from portal.staff.views import customer_context, route_admits
from shared.billing import ledger
from shared.billing.autopay import autopay_status
from shared.billing.cycle import MONTHS
from shared.billing.invoices import create_invoice, invoice_detail, list_invoices, void_invoice
from shared.billing.methods import list_methods
from shared.billing.money import format_money, parse_amount
from shared.billing.payments import list_payments, payment_detail, refund_payment
from shared.billing.plans import parse_monthly_fee, set_monthly_fee
from shared.config import Config
from shared.db import Connection
from shared.errors import DomainError
from shared.fields import single_line
from shared.scope import CustomerScope

routes = web.RouteTableDef()
SECTION_ROWS = 12
INVOICE_LINES = 5  # rows of the new-invoice form; empty ones are skipped
BASE = "/staff/customers/{customer_id}/billing"


def _scope(request: web.Request) -> CustomerScope:
    return staff_scope(request, path_id(request, "customer_id"))


def _record(scope: CustomerScope, anchor: str = "billing") -> str:
    return f"/staff/customers/{scope.customer_id}#{anchor}"


def parse_due_date(text: str, *, field: str = "due_on") -> date:
    """A date as an <input type=date> sends it (YYYY-MM-DD); anything else is refused by its field."""
    try:
        if len(text) != 10:
            raise ValueError(text)
        return date.fromisoformat(text)
    except ValueError:
        raise DomainError("enter the date as YYYY-MM-DD, e.g. 2026-12-31", field=field) from None


def billing_section(config: Config) -> StaffSection:
    async def load(connection: Connection, scope: CustomerScope) -> dict[str, Any]:
        today = today_in(config)
        fee: Decimal = await connection.fetchval("SELECT monthly_fee FROM customers WHERE id = $1", scope.customer_id)
        return {
            "monthly_fee": fee,
            "balance": await ledger.balance_due(connection, scope.customer_id),
            "credit": await ledger.credit_available(connection, scope.customer_id),
            "invoices": await list_invoices(connection, scope, which="all", limit=SECTION_ROWS),
            "payments": await list_payments(connection, scope, limit=SECTION_ROWS),
            "methods": await list_methods(connection, scope),
            "autopay": await autopay_status(connection, scope, today=today),
            "today": today,
        }

    return StaffSection("billing", "Billing", Rule(Access.STAFF), "billing/staff_section.html", load, order=30)


@routes.post(BASE + "/fee", name="staff.billing_fee")
@access(Access.ADMIN)
@form_view("staff/customer.html", customer_context)
async def set_fee(request: web.Request, form: Form) -> web.StreamResponse:
    scope = _scope(request)
    fee = parse_monthly_fee(form.get("monthly_fee"), field="monthly_fee")
    async with request.app[pool_key].acquire() as connection:
        await staff_queries.customer(connection, scope)  # NotFound for a customer that does not exist
        await set_monthly_fee(connection, scope, fee)
    money = format_money(fee, request.app[config_key]["billing.currency"])
    said = "no monthly fee: the billing cycle invoices nothing" if fee == 0 else f"a monthly fee of {money}"
    flash(await get_session(request), f"The customer now has {said}.")
    raise redirect(_record(scope))


async def new_invoice_context(request: web.Request) -> dict[str, Any]:
    scope = _scope(request)
    async with request.app[pool_key].acquire() as connection:
        customer = await staff_queries.customer(connection, scope)
    return {"customer": customer, "line_numbers": range(1, INVOICE_LINES + 1)}


@routes.get(BASE + "/invoices/new", name="staff.billing_invoice_new")
@access(Access.ADMIN)
async def new_invoice_page(request: web.Request) -> web.StreamResponse:
    context = await new_invoice_context(request)
    due = today_of(request) + timedelta(days=request.app[config_key]["billing.invoice_due_days"])
    context["form"] = {"due_on": due.isoformat()}
    return await render(request, "billing/staff_invoice_new.html", context)


@dataclass(frozen=True)
class InvoiceForm:
    lines: list[tuple[str, Decimal]]
    due_on: date
    description: str


def read_invoice_form(form: Form) -> InvoiceForm:
    """The filled rows of the form's lines, the due date and the description; every wrong field is named at once."""
    lines: list[tuple[str, Decimal]] = []
    errors = FieldErrors()
    for number in range(1, INVOICE_LINES + 1):
        description_field, amount_field = f"line_description_{number}", f"line_amount_{number}"
        description, amount = form.get(description_field), form.get(amount_field)
        if not description and not amount:
            continue
        with errors.check():
            description = single_line(description, field=description_field, missing="describe what is charged")
        with errors.check():
            lines.append((description, parse_amount(amount, field=amount_field)))
    with errors.check():
        if not lines and not errors.errors:
            raise DomainError("enter at least one line: what is charged and its amount", field="line_description_1")
    due_on = date.min
    with errors.check():
        due_on = parse_due_date(form.get("due_on"))
    description = ""
    with errors.check():
        description = single_line(form.get("description"), field="description")
    errors.raise_if_any()
    return InvoiceForm(lines, due_on, description)


@routes.post(BASE + "/invoices", name="staff.billing_invoice_create")
@access(Access.ADMIN)
@form_view("billing/staff_invoice_new.html", new_invoice_context)
async def create_invoice_view(request: web.Request, form: Form) -> web.StreamResponse:
    scope = _scope(request)
    entered = read_invoice_form(form)
    async with request.app[pool_key].acquire() as connection:
        await staff_queries.customer(connection, scope)
        issued = await create_invoice(
            connection,
            customer_id=scope.customer_id,
            lines=entered.lines,
            due_on=entered.due_on,
            issued_on=today_of(request),
            description=entered.description,
            created_by=viewer_of(request).user_id,
        )
    flash(await get_session(request), f"Invoice {issued.number} is issued.")
    raise redirect(f"/staff/customers/{scope.customer_id}/billing/invoices/{issued.id}")


async def invoice_context(request: web.Request) -> dict[str, Any]:
    scope = _scope(request)
    async with request.app[pool_key].acquire() as connection:
        customer = await staff_queries.customer(connection, scope)
        detail = await invoice_detail(connection, scope, path_id(request, "invoice_id"))
    period = detail.invoice.period
    return {
        "customer": customer,
        "detail": detail,
        "period_label": f"{MONTHS[period.month - 1]} {period.year}" if period else "",
        "may_use": lambda name: route_admits(request, name),
    }


@routes.get(BASE + "/invoices/{invoice_id}", name="staff.billing_invoice")
@access(Access.STAFF)
async def invoice_page(request: web.Request) -> web.StreamResponse:
    return await render(request, "billing/staff_invoice.html", await invoice_context(request))


@routes.post(BASE + "/invoices/{invoice_id}/void", name="staff.billing_invoice_void")
@access(Access.ADMIN)
@form_view("billing/staff_invoice.html", invoice_context)
async def void_invoice_view(request: web.Request, form: Form) -> web.StreamResponse:
    scope = _scope(request)
    invoice_id = path_id(request, "invoice_id")
    async with request.app[pool_key].acquire() as connection:
        reason = single_line(form.get("reason"), field="reason", missing="say why the invoice is voided")
        await void_invoice(connection, scope, invoice_id, reason=reason)
        detail = await invoice_detail(connection, scope, invoice_id)
    flash(await get_session(request), f"Invoice {detail.invoice.number} is void; money paid on it is credit now.")
    raise redirect(f"/staff/customers/{scope.customer_id}/billing/invoices/{invoice_id}")


async def payment_context(request: web.Request) -> dict[str, Any]:
    scope = _scope(request)
    async with request.app[pool_key].acquire() as connection:
        customer = await staff_queries.customer(connection, scope)
        detail = await payment_detail(connection, scope, path_id(request, "payment_id"))
    return {
        "customer": customer,
        "detail": detail,
        "may_use": lambda name: route_admits(request, name),
        # Made with the page: a refund submitted twice (double click, refresh, two tabs) moves money once.
        "refund_key": secrets.token_urlsafe(24),
    }


@routes.get(BASE + "/payments/{payment_id}", name="staff.billing_payment")
@access(Access.STAFF)
async def payment_page(request: web.Request) -> web.StreamResponse:
    return await render(request, "billing/staff_payment.html", await payment_context(request))


def refund_key(form: Form) -> str:
    key = form.get("idempotency_key")
    if not 16 <= len(key) <= 200:
        raise DomainError("this form is out of date: open the payment again and repeat the refund")
    return key


@routes.post(BASE + "/payments/{payment_id}/refund", name="staff.billing_refund")
@access(Access.STAFF, Permission.REFUND)
@form_view("billing/staff_payment.html", payment_context)
async def refund_view(request: web.Request, form: Form) -> web.StreamResponse:
    scope = _scope(request)
    payment_id = path_id(request, "payment_id")
    key = refund_key(form)
    errors = FieldErrors()
    with errors.check():
        amount = parse_amount(form.get("amount"))
    with errors.check():
        reason = single_line(
            form.get("reason"), field="reason", missing="say why the money is given back (the customer is told)"
        )
    errors.raise_if_any()
    async with request.app[pool_key].acquire() as connection:
        await payment_detail(connection, scope, payment_id)  # NotFound before the gateway hears of it
    refund_id = await refund_payment(
        request.app[pool_key],
        gateway_of(request),
        scope=scope,
        payment_id=payment_id,
        amount=amount,
        reason=reason,
        idempotency_key=key,
        created_by=viewer_of(request).user_id,
    )
    async with request.app[pool_key].acquire() as connection:
        outcome = await connection.fetchrow(
            "SELECT r.status, r.amount, r.failure_message FROM refunds r JOIN payments p ON p.id = r.payment_id "
            "WHERE r.id = $1 AND p.customer_id = $2",
            refund_id,
            scope.customer_id,
        )
    session = await get_session(request)
    if outcome is None or outcome["status"] == "pending":
        flash(session, "The gateway has not answered yet: the refund is pending and is settled when it answers.")
    elif outcome["status"] == "failed":
        raise DomainError(f"the gateway refused the refund: {outcome['failure_message'] or 'no reason given'}")
    else:
        money = format_money(outcome["amount"], request.app[config_key]["billing.currency"])
        flash(session, f"{money} is refunded; the customer is e-mailed.")
    raise redirect(f"/staff/customers/{scope.customer_id}/billing/payments/{payment_id}")


def setup(app: web.Application) -> None:
    """Staff billing joins the app: its routes and the Billing section of the customer record."""
    app.router.add_routes(routes)
    app[staff_sections_key].add(billing_section(app[config_key]))
