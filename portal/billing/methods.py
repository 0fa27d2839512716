"""The Payment methods pages (C5): the cards and bank accounts on file, adding one, the default, removing one."""

from __future__ import annotations

import re
from datetime import date
from typing import Any
from urllib.parse import urlencode, urlsplit

from aiohttp import web
from aiohttp_session import get_session

from portal.auth.access import Access, access, scope_of, viewer_of
from portal.auth.model import CustomerScope, Permission
from portal.auth.sessions import flash
from portal.billing.common import gateway_of, today_of
from portal.forms import Form, InvalidForm, errors_of, form_view, redirect
from portal.keys import pool_key
from portal.paths import parse_id, path_id
from portal.render import render
from shared.billing import cards
from shared.billing.autopay import autopay_status
from shared.billing.gateway import BankAccountDetails, CardDetails
from shared.billing.methods import (
    PaymentMethod,
    add_payment_method,
    list_methods,
    method_of,
    remove_method,
    set_default,
)
from shared.db import Connection
from shared.errors import DomainError
from shared.fields import single_line

routes = web.RouteTableDef()

KINDS = {"card": "Credit or debit card", "bank_account": "Bank account (ACH)"}
ACCOUNT_TYPES = {"checking": "Checking", "savings": "Savings"}
NEW_ADDRESS = "new"
YEARS_OFFERED = 15
# Typed secrets: never shown again after an error, whatever portal.forms' own list says.
_NEVER_ECHOED = frozenset({cards.CARD_NUMBER, cards.SECURITY_CODE, cards.ACCOUNT_NUMBER})
# What the sandbox takes (SPEC §3), listed on the page so nobody types a real card into it.
SANDBOX_CARDS = (
    ("4242 4242 4242 4242", "Visa: succeeds"),
    ("5555 5555 5555 4444", "Mastercard: succeeds"),
    ("4000 0000 0000 0002", "declined"),
    ("4000 0000 0000 9995", "declined: insufficient funds"),
    ("4000 0000 0000 0119", "fails with a processing error"),
    ("4000 0000 0000 3220", "answers only after a timeout (the charge goes through)"),
)
SANDBOX_BANK = (
    ("110000000", "000123456789", "succeeds"),
    ("110000000", "000111111116", "fails (account closed)"),
)
# Control characters, spaces, backslashes, "//" and dot segments (also percent-encoded, which browsers resolve).
_UNSAFE_NEXT = re.compile(r"[\x00-\x20\\]|//|/(?:\.|%2e){1,2}(?:[/?#]|$)", re.IGNORECASE)


def long_date(day: date | None) -> str:
    return f"{day:%B} {day.day}, {day.year}" if day is not None else "—"


def safe_next(value: str) -> str | None:
    """Where to go after adding a method: only a path of the Billing Center on this site (never an open redirect)."""
    if not value.startswith("/billing/") or _UNSAFE_NEXT.search(value):
        return None
    parts = urlsplit(value)
    if parts.scheme or parts.netloc or parts.fragment:
        return None
    return value


def _may_manage(request: web.Request) -> bool:
    return viewer_of(request).may(Permission.MANAGE_PAYMENT_METHODS)


async def methods_context(request: web.Request) -> dict[str, Any]:
    scope, today = scope_of(request), today_of(request)
    async with request.app[pool_key].acquire() as connection:
        methods = await list_methods(connection, scope)
        autopay = await autopay_status(connection, scope, today=today)
    return {
        "methods": methods,
        "expired": {method.id for method in methods if method.expired(today)},
        "autopay": autopay,
        "autopay_method_id": autopay.method.id if autopay.on and autopay.method else None,
        "can_manage": _may_manage(request),
        # Seed 000: "request service" sits beside the payment methods; the Service Center may not exist yet.
        "request_service": "service.request" in request.app.router,
        "long_date": long_date,
    }


@routes.get("/billing/payment-methods", name="billing.methods")
@access(Access.CUSTOMER)
async def methods_page(request: web.Request) -> web.StreamResponse:
    return await render(request, "billing/methods.html", await methods_context(request))


async def _premises(connection: Connection, scope: CustomerScope) -> list[tuple[int, str, str]]:
    """The customer's premises with an address on file: the billing addresses offered with one click."""
    rows = await connection.fetch(
        "SELECT id, name, address FROM sites WHERE customer_id = $1 AND btrim(address) <> '' ORDER BY id",
        scope.customer_id,
    )
    return [(row["id"], row["name"], row["address"]) for row in rows]


async def new_method_context(request: web.Request) -> dict[str, Any]:
    scope, today = scope_of(request), today_of(request)
    async with request.app[pool_key].acquire() as connection:
        sites = await _premises(connection, scope)
        has_methods = bool(await list_methods(connection, scope))
    gateway = gateway_of(request)
    return {
        "sites": sites,
        "has_methods": has_methods,
        "kinds": KINDS,
        "account_types": ACCOUNT_TYPES,
        "months": [(f"{month}", f"{month:02d}") for month in range(1, 13)],
        "years": [(f"{year}", f"{year}") for year in range(today.year, today.year + YEARS_OFFERED + 1)],
        "sandbox": gateway.label if gateway.is_sandbox else None,
        "sandbox_cards": SANDBOX_CARDS,
        "sandbox_bank": SANDBOX_BANK,
        "next": safe_next(request.query.get("next", "")) or "",
    }


@routes.get("/billing/payment-methods/new", name="billing.method_new")
@access(Access.CUSTOMER, Permission.MANAGE_PAYMENT_METHODS)
async def new_method_page(request: web.Request) -> web.StreamResponse:
    context = await new_method_context(request)
    defaults = {
        "kind": "card",
        "account_type": "checking",
        "address_choice": str(context["sites"][0][0]) if context["sites"] else NEW_ADDRESS,
        "next": context["next"],
    }
    return await render(request, "billing/method_new.html", {**context, "form": defaults})


async def _billing_address(connection: Connection, scope: CustomerScope, form: Form) -> str:
    """The chosen premises' address, or the one typed under "A different address"."""
    choice = form.get("address_choice")
    if choice == NEW_ADDRESS:
        return single_line(
            form.get(cards.BILLING_ADDRESS), field=cards.BILLING_ADDRESS, missing="please enter the billing address"
        )
    site_id = parse_id(choice)
    address = None
    if site_id is not None:
        address = await connection.fetchval(
            "SELECT address FROM sites WHERE id = $1 AND customer_id = $2", site_id, scope.customer_id
        )
    if not address:
        raise DomainError("please choose the billing address", field="address_choice")
    return str(address)


def holder_name_of(form: Form) -> str:
    """The name on the card or the account holder: the form has a `holder_name` input in each payment type's part.

    With the page's script only the chosen part is sent; without it both are, the card's first.
    """
    names = [name.strip() for name in form.all(cards.HOLDER_NAME)]
    if len(names) >= 2:
        return names[1] if form.get("kind") == "bank_account" else names[0]
    return names[0] if names else ""


def _details(form: Form, billing_address: str, today: date) -> CardDetails | BankAccountDetails:
    """The typed details, checked field by field (shared/billing/cards.py); every wrong field is reported at once."""
    holder_name = holder_name_of(form)
    if form.get("kind") == "bank_account":
        account_type = form.get(cards.ACCOUNT_TYPE)
        errors = cards.validate_bank_account(
            routing_number=form.get(cards.ROUTING_NUMBER),
            account_number=form.get(cards.ACCOUNT_NUMBER),
            account_type=account_type,
            holder_name=holder_name,
            billing_address=billing_address,
        )
        if errors:
            raise InvalidForm(errors)
        return BankAccountDetails(
            routing_number=cards.digits_only(form.get(cards.ROUTING_NUMBER)) or "",
            account_number=cards.digits_only(form.get(cards.ACCOUNT_NUMBER)) or "",
            account_type="savings" if account_type == "savings" else "checking",
            holder_name=holder_name,
            billing_address=billing_address,
        )
    errors = cards.validate_card(
        number=form.get(cards.CARD_NUMBER),
        exp_month=form.get(cards.EXP_MONTH),
        exp_year=form.get(cards.EXP_YEAR),
        security_code=form.get(cards.SECURITY_CODE),
        holder_name=holder_name,
        billing_address=billing_address,
        today=today,
    )
    if errors:
        raise InvalidForm(errors)
    return CardDetails(
        number=cards.digits_only(form.get(cards.CARD_NUMBER)) or "",
        exp_month=cards.parse_month(form.get(cards.EXP_MONTH)) or 0,
        exp_year=cards.parse_year(form.get(cards.EXP_YEAR)) or 0,
        security_code=form.get(cards.SECURITY_CODE),
        holder_name=holder_name,
        billing_address=billing_address,
    )


async def _read_method(request: web.Request, form: Form) -> CardDetails | BankAccountDetails:
    """Everything the form says, or InvalidForm naming every field to fix (address, details and terms together)."""
    errors: dict[str, str] = {}
    billing_address = ""
    try:
        async with request.app[pool_key].acquire() as connection:
            billing_address = await _billing_address(connection, scope_of(request), form)
    except DomainError as error:
        errors.update(errors_of(error))
    try:
        # Names end up in mail and on receipts: one line, like every name people type.
        single_line(holder_name_of(form), field=cards.HOLDER_NAME)
    except DomainError as error:
        errors.update(errors_of(error))
    details: CardDetails | BankAccountDetails | None = None
    if form.get("kind") not in KINDS:
        errors["kind"] = "please choose card or bank account"
    else:
        try:
            details = _details(form, billing_address, today_of(request))
        except DomainError as error:
            for field, message in errors_of(error).items():
                # A missing address is already said by the address's own field (the radios or the text box).
                if not (field == cards.BILLING_ADDRESS and not billing_address):
                    errors.setdefault(field, message)
    if form.get("terms") != "yes":
        errors["terms"] = "please agree to the terms and conditions to add the payment method"
    if errors or details is None:
        raise InvalidForm(errors)
    return details


def _after_adding(form: Form, method: PaymentMethod) -> str:
    """Back to the page that sent the customer here (the pay flow, autopay), with the new method chosen."""
    target = safe_next(form.get("next"))
    if target is None:
        return "/billing/payment-methods"
    separator = "&" if "?" in target else "?"
    return f"{target}{separator}{urlencode({'method_id': method.id})}"


@routes.post("/billing/payment-methods/new", name="billing.method_new")
@access(Access.CUSTOMER, Permission.MANAGE_PAYMENT_METHODS)
async def add_method(request: web.Request) -> web.StreamResponse:
    form = Form(await request.post())
    try:
        details = await _read_method(request, form)
        method = await add_payment_method(
            request.app[pool_key],
            gateway_of(request),
            scope_of(request),
            details,
            make_default=form.get("make_default") == "yes",
            terms_accepted=True,
        )
    except DomainError as error:
        # The form again, every message by its field; the card number, its code and the account number are not
        # written back into the page (nor anywhere else).
        echo = {name: value for name, value in form.echo().items() if name not in _NEVER_ECHOED}
        echo[cards.HOLDER_NAME] = holder_name_of(form)
        echo["next"] = safe_next(form.get("next")) or ""  # it becomes a link on the page: only a safe one
        page = {**await new_method_context(request), "form": echo, "errors": errors_of(error)}
        return await render(request, "billing/method_new.html", page, status=error.status)
    flash(
        await get_session(request),
        f"{method.label} is saved. Your new payment method will be available next time you make a payment.",
    )
    raise redirect(_after_adding(form, method))


@routes.post("/billing/payment-methods/{method_id}/default", name="billing.method_default")
@access(Access.CUSTOMER, Permission.MANAGE_PAYMENT_METHODS)
@form_view("billing/methods.html", methods_context)
async def make_default(request: web.Request, form: Form) -> web.StreamResponse:
    scope = scope_of(request)
    async with request.app[pool_key].acquire() as connection, connection.transaction():
        method = await method_of(connection, scope, path_id(request, "method_id"))
        if method.expired(today_of(request)):
            raise DomainError(f"{method.label} has expired: it cannot be the default. Add a new card instead.")
        await set_default(connection, scope, method.id)
    flash(await get_session(request), f"{method.label} is now your default payment method.")
    raise redirect("/billing/payment-methods")


@routes.post("/billing/payment-methods/{method_id}/remove", name="billing.method_remove")
@access(Access.CUSTOMER, Permission.MANAGE_PAYMENT_METHODS)
@form_view("billing/methods.html", methods_context)
async def remove(request: web.Request, form: Form) -> web.StreamResponse:
    scope = scope_of(request)
    async with request.app[pool_key].acquire() as connection, connection.transaction():
        method = await method_of(connection, scope, path_id(request, "method_id"))
        await remove_method(connection, scope, method.id)
    flash(await get_session(request), f"{method.label} is removed.")
    raise redirect("/billing/payment-methods")
