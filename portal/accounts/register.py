"""Registering a customer's login (account number plus a proof of ownership) and confirming the e-mail address."""

from __future__ import annotations

from typing import Any

from aiohttp import web
from aiohttp_session import get_session

from portal.accounts import queries
from portal.accounts.login import client_address, home_of
from portal.accounts.passwords import check_new_password, hash_in_thread
from portal.accounts.throttle import Throttle
from portal.accounts.tokens import Purpose, holder_of_link, issue_token, use_token
from portal.auth.access import Access, access, viewer_of
from portal.auth.sessions import flash, start_session
from portal.forms import FieldErrors, Form, form_view, redirect
from portal.keys import config_key, ownership_proofs_key, pool_key, viewer_key
from portal.render import render
from shared.branding import Branding
from shared.db import Connection
from shared.enrolment import normalise_account
from shared.errors import DomainError
from shared.fields import normalise_email, single_line
from shared.messages import CONFIRM_EMAIL, queue_mail

routes = web.RouteTableDef()
DAY = 86400.0


async def register_context(request: web.Request) -> dict[str, Any]:
    return {"proofs": request.app[ownership_proofs_key].proofs}


@routes.get("/register", name="register")
@access(Access.PUBLIC)
async def register_page(request: web.Request) -> web.StreamResponse:
    return await render(request, "accounts/register.html", await register_context(request))


def _read_registration(request: web.Request, form: Form) -> dict[str, str]:
    """Every field checked at once, so the form shows all that needs fixing."""
    fields = FieldErrors()
    values: dict[str, str] = {}
    for name, check in (("account", normalise_account), ("email", normalise_email)):
        with fields.check():
            values[name] = check(form.get(name))
    with fields.check():
        values["name"] = single_line(form.get("name"), field="name", missing="enter your name")
    proofs = request.app[ownership_proofs_key]
    method = form.get("proof_method") or proofs.proofs[0].method
    with fields.check():
        if proofs.get(method) is None:
            raise DomainError("choose how you prove the account is yours", field="proof_method")
    values["proof_method"] = method
    values["proof"] = form.get("proof")
    with fields.check():
        if not values["proof"]:
            raise DomainError("enter it exactly as printed", field="proof")
    with fields.check():
        check_new_password(form.raw("password"), form.raw("password_confirm"), email=values.get("email", ""))
    fields.raise_if_any()
    return values


@routes.post("/register", name="register.submit")
@access(Access.PUBLIC)
@form_view("accounts/register.html", register_context)
async def register(request: web.Request, form: Form) -> web.StreamResponse:
    values = _read_registration(request, form)
    proof = request.app[ownership_proofs_key].get(values["proof_method"])
    assert proof is not None
    throttle = Throttle.from_config("register", request.app[config_key])
    address = client_address(request)
    async with request.app[pool_key].acquire() as connection:
        # Four-digit codes are guessable: failed proofs count per account number and per address.
        attempt = await throttle.attempt(connection, account=values["account"], address=address)
        customer_id = await queries.customer_of_account(connection, values["account"])
        if customer_id is None or not await proof.verify(connection, customer_id, values["proof"]):
            raise DomainError(
                f"the account number and the {proof.label.lower()} do not match our records", field="proof"
            )
        password_hash = await hash_in_thread(form.raw("password"))
        async with connection.transaction():
            await attempt.succeeded(connection)
            user_id = await queries.claim_owner_login(
                connection,
                customer_id=customer_id,
                name=values["name"],
                email=values["email"],
                password_hash=password_hash,
            )
            await _send_confirmation(request, connection, user_id, values["email"], values["name"])
            await start_session(request, connection, user_id)
    flash(
        await get_session(request),
        f"Welcome! Your login is ready. We sent a confirmation e-mail to {values['email']}.",
    )
    raise redirect("/dashboard")


async def _send_confirmation(request: web.Request, connection: Connection, user_id: int, email: str, name: str) -> None:
    config = request.app[config_key]
    days = config["portal.invitation_days"]
    token = await issue_token(connection, user_id, Purpose.CONFIRM_EMAIL, days * DAY)
    context = {"name": name, "token": token, "days": days}
    await queue_mail(
        connection, Branding.from_config(config), CONFIRM_EMAIL, recipient=email, context=context, user_id=user_id
    )


@routes.get("/confirm/{token}", name="confirm")
@access(Access.PUBLIC)
async def confirm_page(request: web.Request) -> web.StreamResponse:
    # A GET only shows the page: mail scanners that open links must not use them up.
    holder = await holder_of_link(request, Purpose.CONFIRM_EMAIL)
    return await render(request, "accounts/confirm.html", {"email": holder.email})


@routes.post("/confirm/{token}", name="confirm.submit")
@access(Access.PUBLIC)
async def confirm(request: web.Request) -> web.StreamResponse:
    async with request.app[pool_key].acquire() as connection, connection.transaction():
        holder = await use_token(connection, request.match_info["token"], Purpose.CONFIRM_EMAIL)
        await queries.mark_email_confirmed(connection, holder.user_id)
    flash(await get_session(request), f"Thank you: {holder.email} is confirmed.")
    viewer = request.get(viewer_key)
    raise redirect(home_of(viewer.role) if viewer else "/login")


@routes.post("/account/confirmation", name="account.resend_confirmation")
@access(Access.USER)
async def resend_confirmation(request: web.Request) -> web.StreamResponse:
    viewer = viewer_of(request)
    if not viewer.email_confirmed:
        async with request.app[pool_key].acquire() as connection, connection.transaction():
            await _send_confirmation(request, connection, viewer.user_id, viewer.email, viewer.display_name)
        flash(await get_session(request), f"We sent a new confirmation link to {viewer.email}.")
    raise redirect("/account")
