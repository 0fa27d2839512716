"""The Users page (C8): the owner invites secondary users by e-mail, sets what they may do, and removes them."""

from __future__ import annotations

from typing import Any

from aiohttp import web
from aiohttp_session import get_session

from portal.accounts.passwords import check_new_password, hash_in_thread
from portal.accounts.tokens import Purpose, holder_of_link, issue_token, peek_token, use_token
from portal.auth.access import Access, access, scope_of, viewer_of
from portal.auth.model import CustomerScope, Permission, Viewer
from portal.auth.sessions import flash, start_session
from portal.forms import FieldErrors, Form, form_view, redirect
from portal.keys import config_key, grantable_permissions_key, pool_key
from portal.paths import path_id
from portal.render import render
from portal.users import queries
from shared.branding import Branding
from shared.errors import DomainError, Forbidden
from shared.fields import normalise_email, single_line
from shared.messages import INVITATION, queue_mail

routes = web.RouteTableDef()
DAY = 86400.0


def _granted(request: web.Request, form: Form, viewer: Viewer) -> frozenset[Permission]:
    """The permissions ticked on the form that this feature set offers and the viewer holds themself."""
    offered = request.app[grantable_permissions_key]
    chosen = {p for p in offered if p.value in form.all("permissions")}
    if any(not viewer.may(p) for p in chosen):
        raise Forbidden("you can only give others permissions that you have")
    return frozenset(chosen)


async def users_context(request: web.Request) -> dict[str, Any]:
    scope = scope_of(request)
    async with request.app[pool_key].acquire() as connection:
        users = await queries.customer_users(connection, scope)
    return {"users": users, "grantable": request.app[grantable_permissions_key]}


@routes.get("/users", name="users")
@access(Access.CUSTOMER, Permission.MANAGE_USERS)
async def users_page(request: web.Request) -> web.StreamResponse:
    return await render(request, "users/index.html", await users_context(request))


async def _invite(
    request: web.Request, connection: Any, scope: CustomerScope, viewer: Viewer, user_id: int, email: str, name: str
) -> None:
    config = request.app[config_key]
    days = config["portal.invitation_days"]
    token = await issue_token(connection, user_id, Purpose.INVITATION, days * DAY)
    context = {
        "name": name or email,
        "inviter": viewer.display_name,
        "customer_name": await queries.customer_name(connection, scope),
        "token": token,
        "days": days,
    }
    await queue_mail(
        connection, Branding.from_config(config), INVITATION, recipient=email, context=context, user_id=user_id
    )


@routes.post("/users/invite", name="users.invite")
@access(Access.CUSTOMER, Permission.MANAGE_USERS)
@form_view("users/index.html", users_context)
async def invite(request: web.Request, form: Form) -> web.StreamResponse:
    scope, viewer = scope_of(request), viewer_of(request)
    name = single_line(form.get("name"), field="name", missing="enter the person's name")
    email = normalise_email(form.get("email"))
    permissions = _granted(request, form, viewer)
    async with request.app[pool_key].acquire() as connection, connection.transaction():
        user_id = await queries.add_secondary_user(connection, scope, email=email, name=name, permissions=permissions)
        await _invite(request, connection, scope, viewer, user_id, email, name)
    flash(await get_session(request), f"We sent {name} an invitation at {email}.")
    raise redirect("/users")


@routes.post("/users/{user_id}/resend", name="users.resend")
@access(Access.CUSTOMER, Permission.MANAGE_USERS)
async def resend_invitation(request: web.Request) -> web.StreamResponse:
    scope, viewer = scope_of(request), viewer_of(request)
    async with request.app[pool_key].acquire() as connection, connection.transaction():
        user = await queries.secondary_user(connection, scope, path_id(request, "user_id"))
        if user["active"]:
            raise DomainError(f"{user['email']} has already accepted the invitation")
        await _invite(request, connection, scope, viewer, user["id"], user["email"], user["name"])
    flash(await get_session(request), f"We sent a new invitation to {user['email']}.")
    raise redirect("/users")


@routes.post("/users/{user_id}/permissions", name="users.permissions")
@access(Access.CUSTOMER, Permission.MANAGE_USERS)
async def change_permissions(request: web.Request) -> web.StreamResponse:
    scope, viewer = scope_of(request), viewer_of(request)
    permissions = _granted(request, Form(await request.post()), viewer)
    async with request.app[pool_key].acquire() as connection, connection.transaction():
        user = await queries.secondary_user(connection, scope, path_id(request, "user_id"))
        await queries.set_permissions(connection, scope, user["id"], permissions)
    flash(await get_session(request), f"Saved what {user['name'] or user['email']} may do.")
    raise redirect("/users")


@routes.post("/users/{user_id}/remove", name="users.remove")
@access(Access.CUSTOMER, Permission.MANAGE_USERS)
async def remove(request: web.Request) -> web.StreamResponse:
    scope = scope_of(request)
    async with request.app[pool_key].acquire() as connection, connection.transaction():
        user = await queries.secondary_user(connection, scope, path_id(request, "user_id"))
        if user["id"] == scope.user_id:
            raise DomainError("you cannot remove yourself; ask the account owner")
        await queries.remove_user(connection, scope, user["id"])
    flash(await get_session(request), f"{user['name'] or user['email']} no longer has access to this account.")
    raise redirect("/users")


async def invitation_context(request: web.Request) -> dict[str, Any]:
    return {"holder": await holder_of_link(request, Purpose.INVITATION)}


@routes.get("/invitation/{token}", name="invitation")
@access(Access.PUBLIC)
async def invitation_page(request: web.Request) -> web.StreamResponse:
    context = await invitation_context(request)
    return await render(request, "users/invitation.html", {**context, "form": {"name": context["holder"].name}})


@routes.post("/invitation/{token}", name="invitation.accept")
@access(Access.PUBLIC)
@form_view("users/invitation.html", invitation_context)
async def accept_invitation(request: web.Request, form: Form) -> web.StreamResponse:
    token = request.match_info["token"]
    async with request.app[pool_key].acquire() as connection:
        # On the connection already held: a second acquire per request let a burst of posts starve the pool.
        holder = await peek_token(connection, token, Purpose.INVITATION)
        fields = FieldErrors()
        with fields.check():
            single_line(form.get("name"), field="name", missing="enter your name")
        with fields.check():
            check_new_password(form.raw("password"), form.raw("password_confirm"), email=holder.email)
        fields.raise_if_any()
        password_hash = await hash_in_thread(form.raw("password"))
        async with connection.transaction():
            holder = await use_token(connection, token, Purpose.INVITATION)
            await queries.accept_invitation(connection, holder.user_id, form.get("name"), password_hash)
            await start_session(request, connection, holder.user_id)
    flash(await get_session(request), "Welcome! Your password is set and you are logged in.")
    raise redirect("/dashboard")
