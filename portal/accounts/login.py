"""Logging in and out, and the front door that sends each user to their home page."""

from __future__ import annotations

from aiohttp import web
from aiohttp_session import get_session
from yarl import URL

from portal.accounts import queries
from portal.accounts.devices import DeviceCookies
from portal.accounts.passwords import hash_in_thread, verify_in_thread
from portal.accounts.throttle import Throttle
from portal.auth.access import Access, access, viewer_of
from portal.auth.model import CUSTOMER_ROLES, Role, Viewer
from portal.auth.sessions import end_session, flash, start_session
from portal.forms import Form, form_view, redirect
from portal.keys import config_key, pool_key, viewer_key
from portal.render import render
from shared import password_policy
from shared.errors import DomainError
from shared.fields import limit_of
from shared.passwords import needs_rehash

routes = web.RouteTableDef()


def home_of(role: Role | str) -> str:
    return "/dashboard" if role in CUSTOMER_ROLES else "/staff"


def safe_next(target: str, viewer_role: Role | str) -> str:
    """Only a path on this site (never //host or a scheme) — an open redirect would help phishing.

    Control characters are refused outright: the Location header drops tabs and line breaks, so "/\t/evil"
    would leave as "//evil". The check then runs on the URL as it will be sent, not on the raw string.
    """
    if any(ord(char) < 0x20 or ord(char) == 0x7F for char in target) or "\\" in target:
        return home_of(viewer_role)
    try:
        url = URL(target)
    except ValueError:
        return home_of(viewer_role)
    sent = str(url)
    if url.is_absolute() or url.scheme or not sent.startswith("/") or sent.startswith("//") or sent == "/":
        return home_of(viewer_role)
    return sent


def client_address(request: web.Request) -> str:
    return request.remote or "unknown"


@routes.get("/", name="home")
@access(Access.PUBLIC)
async def home(request: web.Request) -> web.StreamResponse:
    viewer = request.get(viewer_key)
    raise redirect(home_of(viewer.role) if viewer else "/login")


@routes.get("/login", name="login")
@access(Access.PUBLIC)
async def login_page(request: web.Request) -> web.StreamResponse:
    viewer = request.get(viewer_key)
    if viewer is not None:
        raise redirect(home_of(viewer.role))
    return await render(request, "accounts/login.html", {"form": {"next": request.query.get("next", "")}})


@routes.post("/login", name="login.submit")
@access(Access.PUBLIC)
@form_view("accounts/login.html")
async def login(request: web.Request, form: Form) -> web.StreamResponse:
    email, password = form.get("email"), form.raw("password")
    if not email or not password:
        raise DomainError("enter your e-mail address and your password", field="form")
    if len(email) > limit_of("email") or len(password) > password_policy.MAX_LENGTH:
        raise DomainError("the e-mail address or the password is wrong", field="form")  # no login is that long
    throttle = Throttle.from_config("login", request.app[config_key])
    devices = DeviceCookies.of(request)
    pool = request.app[pool_key]
    async with pool.acquire() as connection:
        user = await queries.login_by_email(connection, email)
        # The cookie names the login it was earned on by its id, never by a spelling of its address: two spellings
        # that fold alike in one place and not in another must not let one login's cookie vouch for another's.
        device = devices.device_of(request, user["id"]) if user is not None else None
        attempt = await throttle.attempt(connection, account=email, address=client_address(request), device=device)
        if not await verify_in_thread(user["password_hash"] if user else None, password) or user is None:
            raise DomainError("the e-mail address or the password is wrong", field="form")
        async with connection.transaction():
            await attempt.succeeded(connection)
            await throttle.forgive_account(connection, email, device)
            if needs_rehash(user["password_hash"]):
                await queries.set_password(connection, user["id"], await hash_in_thread(password))
            await start_session(request, connection, user["id"])
    response = redirect(safe_next(form.get("next"), user["role"]))
    devices.remember(request, response, user["id"])
    raise response


@routes.post("/logout", name="logout")
@access(Access.USER)
async def logout(request: web.Request) -> web.StreamResponse:
    viewer: Viewer = viewer_of(request)
    async with request.app[pool_key].acquire() as connection:
        await end_session(request, connection, viewer)
    flash(await get_session(request), "You are logged out.")
    raise redirect("/login")
