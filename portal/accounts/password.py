"""Passwords: the account page with "change password", and "forgot password" with its single-use reset link."""

from __future__ import annotations

from aiohttp import web
from aiohttp_session import get_session

from portal.accounts import queries
from portal.accounts.login import client_address
from portal.accounts.passwords import check_new_password, hash_in_thread, verify_in_thread
from portal.accounts.throttle import Throttle
from portal.accounts.tokens import Purpose, holder_of_link, issue_token, peek_token, use_token
from portal.auth.access import Access, access, viewer_of
from portal.auth.sessions import flash, revoke_all_sessions, start_session
from portal.forms import Form, form_view, redirect
from portal.keys import config_key, pool_key
from portal.render import render
from shared.branding import Branding
from shared.db import Connection
from shared.errors import DomainError
from shared.fields import normalise_email
from shared.messages import PASSWORD_CHANGED, PASSWORD_RESET, queue_mail

routes = web.RouteTableDef()


async def account_context(request: web.Request) -> dict[str, object]:
    async with request.app[pool_key].acquire() as connection:
        return {"profile": await queries.profile(connection, viewer_of(request).user_id)}


@routes.get("/account", name="account")
@access(Access.USER)
async def account_page(request: web.Request) -> web.StreamResponse:
    return await render(request, "accounts/account.html", await account_context(request))


@routes.post("/account/password", name="account.password")
@access(Access.USER)
@form_view("accounts/account.html", account_context)
async def change_password(request: web.Request, form: Form) -> web.StreamResponse:
    viewer = viewer_of(request)
    check_new_password(
        form.raw("new_password"), form.raw("new_password_confirm"), email=viewer.email, field="new_password"
    )
    throttle = Throttle.from_config("login", request.app[config_key])
    address = client_address(request)
    async with request.app[pool_key].acquire() as connection:
        # Someone at an unattended browser must not get unlimited guesses at the current password.
        attempt = await throttle.attempt(connection, account=viewer.email, address=address)
        current_hash = await queries.password_hash_of(connection, viewer.user_id)
        if not await verify_in_thread(current_hash, form.raw("current_password")):
            raise DomainError("this is not your current password", field="current_password")
        new_hash = await hash_in_thread(form.raw("new_password"))
        async with connection.transaction():
            await attempt.succeeded(connection)
            await queries.set_password(connection, viewer.user_id, new_hash)
            await revoke_all_sessions(connection, viewer.user_id)
            await _send_password_changed(request, connection, viewer.user_id, viewer.email)
            await start_session(request, connection, viewer.user_id)
    flash(await get_session(request), "Your password is changed. Every other session of yours was logged out.")
    raise redirect("/account")


async def _send_password_changed(request: web.Request, connection: Connection, user_id: int, email: str) -> None:
    """Tell the owner of the address, so a password change they did not make does not go unnoticed."""
    branding = Branding.from_config(request.app[config_key])
    await queue_mail(connection, branding, PASSWORD_CHANGED, recipient=email, user_id=user_id)


@routes.get("/password/forgot", name="password.forgot")
@access(Access.PUBLIC)
async def forgot_page(request: web.Request) -> web.StreamResponse:
    return await render(request, "accounts/forgot.html")


@routes.post("/password/forgot", name="password.forgot.submit")
@access(Access.PUBLIC)
@form_view("accounts/forgot.html")
async def forgot(request: web.Request, form: Form) -> web.StreamResponse:
    email = normalise_email(form.get("email"))
    throttle = Throttle.from_config("reset", request.app[config_key])
    address = client_address(request)
    async with request.app[pool_key].acquire() as connection:
        # Every request counts, found or not: nobody can flood an inbox or probe addresses at speed.
        await throttle.attempt(connection, account=email, address=address)
        user = await queries.login_by_email(connection, email)
        if user is not None:
            minutes = request.app[config_key]["portal.reset_link_minutes"]
            async with connection.transaction():
                token = await issue_token(connection, user["id"], Purpose.RESET_PASSWORD, minutes * 60.0)
                await queue_mail(
                    connection,
                    Branding.from_config(request.app[config_key]),
                    PASSWORD_RESET,
                    recipient=user["email"],
                    context={"name": user["name"] or user["email"], "token": token, "minutes": minutes},
                    user_id=user["id"],
                )
    # The same answer whether or not the address has a login: the page must not reveal who is a customer.
    flash(
        await get_session(request),
        f"If {email} has a login, we have sent it an e-mail with a link to reset the password. "
        "Open it and follow “Complete your request”.",
    )
    raise redirect("/login")


@routes.get("/password/reset/{token}", name="password.reset")
@access(Access.PUBLIC)
async def reset_page(request: web.Request) -> web.StreamResponse:
    return await render(request, "accounts/reset.html", await reset_context(request))


async def reset_context(request: web.Request) -> dict[str, object]:
    return {"email": (await holder_of_link(request, Purpose.RESET_PASSWORD)).email}


@routes.post("/password/reset/{token}", name="password.reset.submit")
@access(Access.PUBLIC)
@form_view("accounts/reset.html", reset_context)
async def reset(request: web.Request, form: Form) -> web.StreamResponse:
    token = request.match_info["token"]
    async with request.app[pool_key].acquire() as connection:
        holder = await peek_token(connection, token, Purpose.RESET_PASSWORD)
        # Checked before the link is used, so a rejected password leaves the link working.
        check_new_password(form.raw("password"), form.raw("password_confirm"), email=holder.email)
        new_hash = await hash_in_thread(form.raw("password"))
        async with connection.transaction():
            holder = await use_token(connection, token, Purpose.RESET_PASSWORD)
            await queries.set_password(connection, holder.user_id, new_hash)
            await queries.mark_email_confirmed(connection, holder.user_id)  # the link reached that inbox
            await revoke_all_sessions(connection, holder.user_id)
            await Throttle.from_config("login", request.app[config_key]).forgive_account(connection, holder.email)
            await _send_password_changed(request, connection, holder.user_id, holder.email)
    flash(await get_session(request), "Your password is reset. Log in with your new password.")
    raise redirect("/login")
