"""One Time payment (C4): choose a method, the amount and the invoices, submit — charged once, whatever the clicks."""

from __future__ import annotations

import re
import secrets
from collections.abc import Sequence
from datetime import date
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode

from aiohttp import web

from portal.auth.access import Access, access, scope_of, viewer_of
from portal.auth.model import Permission
from portal.billing import queries
from portal.billing.common import gateway_of, ids_in, timezone_of, today_of
from portal.forms import FieldErrors, Form, InvalidForm, form_view, redirect
from portal.keys import pool_key
from portal.paths import parse_id, path_id
from portal.render import render
from shared.billing.documents import receipt_document
from shared.billing.invoices import InvoiceRow, list_invoices
from shared.billing.ledger import credit_available
from shared.billing.methods import PaymentMethod, list_methods
from shared.billing.money import format_money, parse_amount
from shared.billing.payments import PaymentRequest, PaymentStatus, pay, payment_by_key, payment_detail
from shared.errors import DomainError

routes = web.RouteTableDef()
ZERO = Decimal("0.00")
# Far more open invoices than any customer has; the form lists them all.
MAX_INVOICES = 500
# What the GET puts in the hidden field (secrets.token_urlsafe(24): 32 characters); the column takes 16 to 200.
_KEY = re.compile(r"[A-Za-z0-9_-]{16,200}")
REFRESH_SECONDS = 3


def new_idempotency_key() -> str:
    """One key per form shown: every submission of that form (double click, refresh, two tabs) is one payment."""
    return secrets.token_urlsafe(24)


def pay_path(request: web.Request, invoice_ids: Sequence[int]) -> str:
    path = str(request.app.router["billing.pay"].url_for())
    return f"{path}?{urlencode([('invoice_ids', i) for i in invoice_ids])}" if invoice_ids else path


def payment_path(request: web.Request, payment_id: int) -> str:
    return str(request.app.router["billing.payment"].url_for(payment_id=str(payment_id)))


def add_method_url(request: web.Request, ticked: Sequence[int]) -> str | None:
    """The add-method page, which returns to this pay page with the same invoices ticked (None until it exists)."""
    if "billing.method_new" not in request.app.router:
        return None
    path = str(request.app.router["billing.method_new"].url_for())
    return f"{path}?{urlencode({'next': pay_path(request, ticked)})}"


def default_method(methods: Sequence[PaymentMethod], today: date) -> PaymentMethod | None:
    """The method chosen when the form opens: the default, else the newest; never an expired card."""
    usable = [m for m in methods if not m.expired(today)]
    return next((m for m in usable if m.is_default), usable[0] if usable else None)


async def pay_context(request: web.Request) -> dict[str, Any]:
    """The pay form: methods, open invoices (the ticked ones checked), a fresh idempotency key, who may add methods."""
    scope, viewer = scope_of(request), viewer_of(request)
    source = await request.post() if request.method == "POST" else request.query
    wanted = ids_in(value for value in source.getall("invoice_ids", []) if isinstance(value, str))
    may_add = viewer.may(Permission.MANAGE_PAYMENT_METHODS)
    async with request.app[pool_key].acquire() as connection:
        methods = await list_methods(connection, scope)
        invoices = await list_invoices(connection, scope, which="due", limit=MAX_INVOICES)
        credit = await credit_available(connection, scope.customer_id)
        managers = [] if may_add else await queries.method_managers(connection, scope)
    open_ids = {invoice.id for invoice in invoices}
    ticked = [invoice_id for invoice_id in wanted if invoice_id in open_ids]
    gateway = gateway_of(request)
    return {
        "methods": methods,
        "invoices": invoices,
        "ticked": set(ticked),
        "ticked_balance": sum((i.balance for i in invoices if i.id in ticked), ZERO),
        "credit": credit,
        "today": today_of(request),
        # A new key each time the form is shown, a re-shown form included: after a decline the old key names the
        # declined payment, and the next try must be a new charge.
        "idempotency_key": new_idempotency_key(),
        "sandbox_label": gateway.label if gateway.is_sandbox else "",
        "may_add_method": may_add,
        "add_method_url": add_method_url(request, ticked),
        "managers": managers,
    }


@routes.get("/billing/pay", name="billing.pay")
@access(Access.CUSTOMER)
async def pay_page(request: web.Request) -> web.StreamResponse:
    context = await pay_context(request)
    methods: list[PaymentMethod] = context["methods"]
    # Back from adding a method (?method_id=), that one is chosen; otherwise the default.
    today = context["today"]
    asked = ids_in(request.query.getall("method_id", []))
    usable = [m for m in methods if m.id in asked and not m.expired(today)]
    chosen = usable[0] if usable else default_method(methods, today)
    form = {
        "method_id": str(chosen.id) if chosen else "",
        "amount": str(context["ticked_balance"]) if context["ticked_balance"] > 0 else "",
    }
    return await render(request, "billing/pay.html", {**context, "form": form})


def _requested_amounts(form: Form, ticked: Sequence[InvoiceRow], fields: FieldErrors) -> dict[int, Decimal]:
    """The optional per-invoice amounts (allocate_<id>) of the ticked invoices, each within that invoice's balance."""
    requested: dict[int, Decimal] = {}
    for invoice in ticked:
        name = f"allocate_{invoice.id}"
        if not form.get(name):
            continue
        with fields.check():
            amount = parse_amount(form.get(name), field=name)
            if amount > invoice.balance:
                raise DomainError(
                    f"Invoice {invoice.number} owes {format_money(invoice.balance)}: enter at most that.", field=name
                )
            requested[invoice.id] = amount
    return requested


async def _payment_request(request: web.Request, form: Form, key: str) -> PaymentRequest:
    """The submitted form checked field by field (every wrong field at once) and turned into a PaymentRequest."""
    scope = scope_of(request)
    async with request.app[pool_key].acquire() as connection:
        methods = await list_methods(connection, scope)
        invoices = await list_invoices(connection, scope, which="due", limit=MAX_INVOICES)
    fields = FieldErrors()
    method_id = parse_id(form.get("method_id"))
    method = next((m for m in methods if m.id == method_id), None)
    if method is None:
        fields.errors["method_id"] = "Choose a payment method." if methods else "Add a payment method first."
    elif method.expired(today_of(request)):
        fields.errors["method_id"] = f"{method.label} has expired: choose another method or add a new card."
    amount: Decimal | None = None
    with fields.check():
        amount = parse_amount(form.get("amount"))
    by_id = {invoice.id: invoice for invoice in invoices}
    chosen_ids = ids_in(form.all("invoice_ids"))
    if any(invoice_id not in by_id for invoice_id in chosen_ids):
        # Paid or voided since the form was shown (another tab, autopay, staff): say so rather than make it credit.
        fields.errors["invoice_ids"] = "An invoice you ticked has been paid or voided since; please check the list."
    ticked = [invoice for invoice in invoices if invoice.id in chosen_ids]  # oldest due first
    requested = _requested_amounts(form, ticked, fields)
    if amount is not None and sum(requested.values(), ZERO) > amount:
        total = format_money(sum(requested.values(), ZERO))
        fields.errors["amount"] = f"The amounts for the invoices add up to {total}, more than this payment."
    fields.raise_if_any()
    assert method_id is not None and amount is not None
    # Nothing ticked: the payment goes to the oldest invoices first (all of it credit when nothing is open).
    applies_to = ticked or invoices
    return PaymentRequest(
        customer_id=scope.customer_id,
        method_id=method_id,
        amount=amount,
        requested=requested or None,
        invoice_ids=[invoice.id for invoice in applies_to],
        idempotency_key=key,
        source="portal",
        created_by=scope.user_id,
    )


@routes.post("/billing/pay", name="billing.pay.submit")
@access(Access.CUSTOMER)
@form_view("billing/pay.html", pay_context)
async def submit_payment(request: web.Request, form: Form) -> web.StreamResponse:
    scope = scope_of(request)
    key = form.get("idempotency_key")
    if not _KEY.fullmatch(key):
        raise DomainError("This form is out of date; please check it and submit it again.")
    try:
        async with request.app[pool_key].acquire() as connection:
            earlier = await payment_by_key(connection, scope, key)
        if earlier is not None:  # a second click, a refresh, the back button: show the one payment this form made
            raise redirect(payment_path(request, earlier.id))
        payment_request = await _payment_request(request, form, key)
    except DomainError:
        # A concurrent submission of this same form may have paid in the meantime (and so ticked invoices now look
        # paid): its payment is the answer, not an error.
        async with request.app[pool_key].acquire() as connection:
            earlier = await payment_by_key(connection, scope, key)
        if earlier is not None:
            raise redirect(payment_path(request, earlier.id)) from None
        raise
    outcome = await pay(request.app[pool_key], gateway_of(request), payment_request)
    if outcome.repeated or outcome.status in (PaymentStatus.SUCCEEDED, PaymentStatus.PENDING):
        raise redirect(payment_path(request, outcome.payment_id))
    # Declined or failed: nothing was charged. The form comes back with the gateway's reason next to the method and
    # a new key (pay_context), so the next submission is a new attempt.
    what = "was declined" if outcome.status is PaymentStatus.DECLINED else "could not be completed"
    raise InvalidForm(
        {
            "form": f"Payment {outcome.number} {what}; nothing was charged. Try again or choose another method.",
            "method_id": outcome.failure_message or "The payment did not go through.",
        }
    )


@routes.get("/billing/payments/{payment_id}", name="billing.payment")
@access(Access.CUSTOMER)
async def payment_page(request: web.Request) -> web.StreamResponse:
    """A payment's confirmation, or its progress while the gateway has not answered (the page refreshes itself)."""
    scope = scope_of(request)
    payment_id = path_id(request, "payment_id")
    async with request.app[pool_key].acquire() as connection:
        detail = await payment_detail(connection, scope, payment_id)
        succeeded = detail.payment.succeeded  # refunded since or not: it was received
        receipt = (
            await receipt_document(connection, scope, payment_id, timezone=timezone_of(request)) if succeeded else None
        )
        recipient = await queries.receipt_recipient(connection, scope) if succeeded else ""
    pending = detail.payment.status is PaymentStatus.PENDING
    response = await render(
        request,
        "billing/payment.html",
        {"detail": detail, "receipt": receipt, "recipient": recipient, "pending": pending, "refresh": REFRESH_SECONDS},
    )
    if pending:
        response.headers["Refresh"] = str(REFRESH_SECONDS)  # as the page's meta refresh: until it is settled
    return response
