"""Admin pages: enrol a customer (with premises and panel), add premises and panels, set what a panel is monitored
for, create staff logins."""

from __future__ import annotations

from typing import Any

from aiohttp import web
from aiohttp_session import get_session

from portal.auth.access import Access, access, staff_scope
from portal.auth.sessions import flash
from portal.forms import Form, form_view, redirect
from portal.keys import pool_key
from portal.paths import parse_id, path_id
from portal.render import render
from portal.staff.views import customer_context
from shared.enrolment import (
    MONITORED_SERVICES,
    add_panel,
    add_site,
    create_customer,
    create_staff_user,
    set_monitored_services,
)
from shared.errors import DomainError, NotFound

routes = web.RouteTableDef()


def _hours(form: Form) -> float:
    try:
        return float(form.get("test_interval_hours") or "24")
    except ValueError:
        raise DomainError("enter the test interval in hours, e.g. 24 or 0.5", field="test_interval_hours") from None


def _link_supervision(form: Form) -> float | None:
    """The optional "Link supervision (seconds)" field: empty for a panel that does not poll the receiver."""
    value = form.get("link_supervision_seconds")
    if not value:
        return None
    try:
        return float(value)  # its range (NaN and infinity outside it) is shared.enrolment.check_link_supervision's
    except ValueError:
        raise DomainError("enter the link supervision in seconds, e.g. 90", field="link_supervision_seconds") from None


def _key_fields(form: Form) -> tuple[str | None, str | None]:
    key = form.raw("dc09_key").strip()
    return (key, form.get("dc09_key_format") or "hex") if key else (None, None)


async def ticked_services(request: web.Request) -> dict[str, Any]:
    """The "Monitored for" boxes ticked in the form just posted, to tick them again when it comes back with errors."""
    return {"monitored_ticked": (await request.post()).getall("monitored_services", [])}


async def record_with_ticked_services(request: web.Request) -> dict[str, Any]:
    return {**await customer_context(request), **await ticked_services(request)}


@routes.get("/admin/customers/new", name="admin.customer_new")
@access(Access.ADMIN)
async def new_customer_page(request: web.Request) -> web.StreamResponse:
    return await render(request, "admin/customer_new.html", {"form": {"test_interval_hours": "24"}})


@routes.post("/admin/customers", name="admin.customer_create")
@access(Access.ADMIN)
@form_view("admin/customer_new.html", ticked_services)
async def create_customer_view(request: web.Request, form: Form) -> web.StreamResponse:
    key, key_format = _key_fields(form)
    async with request.app[pool_key].acquire() as connection:
        enrolled = await create_customer(
            connection,
            name=form.get("name"),
            email=form.get("email"),
            password=None,  # the customer registers with the account number and the security code
            account=form.get("account"),
            address=form.get("address"),
            dc09_key=key,
            dc09_key_format=key_format,
            test_interval_hours=_hours(form),
            security_code=form.get("security_code"),
            phone=form.get("phone"),
            monitored_services=form.all("monitored_services"),
            link_supervision_seconds=_link_supervision(form),
        )
    flash(await get_session(request), f"Customer enrolled with panel account {enrolled.account}.")
    raise redirect(f"/staff/customers/{enrolled.customer_id}")


@routes.post("/admin/customers/{customer_id}/sites", name="admin.site_create")
@access(Access.ADMIN)
@form_view("staff/customer.html", customer_context)
async def create_site(request: web.Request, form: Form) -> web.StreamResponse:
    customer_id = path_id(request, "customer_id")
    async with request.app[pool_key].acquire() as connection:
        await add_site(connection, customer_id=customer_id, name=form.get("site_name"), address=form.get("address"))
    flash(await get_session(request), "Premises added.")
    raise redirect(f"/staff/customers/{customer_id}")


@routes.post("/admin/customers/{customer_id}/panels", name="admin.panel_create")
@access(Access.ADMIN)
@form_view("staff/customer.html", record_with_ticked_services)
async def create_panel(request: web.Request, form: Form) -> web.StreamResponse:
    customer_id = path_id(request, "customer_id")
    key, key_format = _key_fields(form)
    site_id = parse_id(form.get("site_id"))
    if site_id is None:
        raise DomainError("choose the premises", field="site_id")
    async with request.app[pool_key].acquire() as connection:
        if not await connection.fetchval(
            "SELECT 1 FROM sites WHERE id = $1 AND customer_id = $2", site_id, customer_id
        ):
            raise NotFound("there is no such premises for this customer")
        await add_panel(
            connection,
            site_id=site_id,
            account=form.get("account"),
            dc09_key=key,
            dc09_key_format=key_format,
            test_interval_hours=_hours(form),
            monitored_services=form.all("monitored_services"),
            link_supervision_seconds=_link_supervision(form),
        )
    flash(await get_session(request), "Panel added.")
    raise redirect(f"/staff/customers/{customer_id}")


@routes.post("/admin/customers/{customer_id}/panels/{panel_id}/services", name="admin.panel_services")
@access(Access.ADMIN)
@form_view("staff/customer.html", customer_context)
async def panel_services(request: web.Request, form: Form) -> web.StreamResponse:
    """What a panel is monitored for, set on the customer's record: panels enrolled before it was asked have none on
    file, and their premises can have no insurance certificate until staff add it. The panel is looked up within the
    customer named in the path: another customer's panel is not found."""
    customer_id, panel_id = path_id(request, "customer_id"), path_id(request, "panel_id")
    async with request.app[pool_key].acquire() as connection:
        try:
            panel = await set_monitored_services(
                connection, staff_scope(request, customer_id), panel_id, form.all("monitored_services")
            )
        except NotFound:
            raise
        except DomainError as error:  # said next to this panel's boxes, not the add-a-panel form's
            raise DomainError(error.message, field=f"monitored_services_{panel_id}") from None
    said = ", ".join(MONITORED_SERVICES[service] for service in panel.services) or "nothing (cleared)"
    flash(await get_session(request), f"Panel {panel.account} is monitored for: {said}.")
    raise redirect(f"/staff/customers/{customer_id}#panel-{panel_id}")


async def staff_context(request: web.Request) -> dict[str, Any]:
    async with request.app[pool_key].acquire() as connection:
        staff = await connection.fetch(
            "SELECT email, name, role, created_at FROM users WHERE customer_id IS NULL ORDER BY role, email"
        )
    return {"staff": staff}


@routes.get("/admin/staff", name="admin.staff")
@access(Access.ADMIN)
async def staff_page(request: web.Request) -> web.StreamResponse:
    return await render(request, "admin/staff.html", await staff_context(request))


@routes.post("/admin/staff", name="admin.staff_create")
@access(Access.ADMIN)
@form_view("admin/staff.html", staff_context)
async def create_staff(request: web.Request, form: Form) -> web.StreamResponse:
    async with request.app[pool_key].acquire() as connection:
        await create_staff_user(
            connection, email=form.get("email"), password=form.raw("password"), role=form.get("role")
        )
    flash(await get_session(request), f"{form.get('email')} can now log in as {form.get('role')}.")
    raise redirect("/admin/staff")
