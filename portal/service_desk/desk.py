"""One service request for staff (GET /staff/service/{request_id}) and working it: take, release, comment, schedule a
visit, complete. Each action finds the request's customer first and acts in that customer's scope."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from datetime import date, datetime, time
from typing import Any
from zoneinfo import ZoneInfo

from aiohttp import web
from aiohttp_session import get_session

from portal.auth.access import Access, access, staff_scope, viewer_of
from portal.auth.model import Permission
from portal.auth.sessions import flash
from portal.forms import FieldErrors, Form, form_view, redirect
from portal.keys import config_key, pool_key
from portal.paths import parse_id, path_id
from portal.render import render
from portal.service_desk import present, queries
from portal.staff.views import route_admits
from shared.branding import Branding
from shared.db import Connection
from shared.errors import DomainError
from shared.fields import multi_line, single_line
from shared.scope import CustomerScope
from shared.service import requests as service

routes = web.RouteTableDef()
PAGE = "/staff/service/{request_id}"
TEMPLATE = "service_desk/request.html"
VISIBILITIES = ("customer", "internal")
# The hour a visit's time field suggests for the customer's preferred part of the day.
SUGGESTED_HOURS = {"morning": "09:00", "afternoon": "13:00", "any": ""}
WORK = (Access.STAFF, Permission.WORK_SERVICE_REQUESTS)


def zone_of(request: web.Request) -> ZoneInfo:
    return ZoneInfo(request.app[config_key]["portal.timezone"])


def today_of(request: web.Request) -> date:
    """The company's calendar day: visits are booked and work is dated in the portal's time zone."""
    return datetime.now(zone_of(request)).date()


def page_of(request_id: int) -> str:
    return PAGE.format(request_id=request_id)


async def scope_of_request(connection: Connection, request: web.Request) -> tuple[CustomerScope, int]:
    """The staff scope of the customer whose request the path names, and the request's id (NotFound: 404)."""
    request_id = path_id(request, "request_id")
    customer_id = await queries.customer_of_request(connection, request_id)
    return staff_scope(request, customer_id), request_id


def suggestions(found: service.ServiceRequest, visits: list[service.Visit], today: date) -> dict[str, str]:
    """What the forms start with: the customer's first preferred day still to come, the technician last booked."""
    upcoming = [day for day in found.preferred_dates if day >= today]
    booked = [visit for visit in visits if visit.cancelled_at is None]
    technician = booked[-1].technician if booked else ""
    return {
        "visibility": "customer",
        "visit_date": min(upcoming).isoformat() if upcoming else "",
        "visit_time": SUGGESTED_HOURS.get(found.preferred_time, ""),
        "visit_technician": technician,
        "performed_on": today.isoformat(),
        "technician": technician,
    }


async def request_context(request: web.Request) -> dict[str, Any]:
    """Everything about the request for staff, internal notes included; also the page shown after a form error."""
    async with request.app[pool_key].acquire() as connection:
        scope, request_id = await scope_of_request(connection, request)
        found, events, visits = await service.get_request(connection, scope, request_id, internal=True)
        technicians = await queries.recent_technicians(connection)
    viewer = viewer_of(request)
    return {
        **present.helpers(),
        "item": found,
        "events": events,
        "visits": visits,
        "holds": found.holder_id == viewer.user_id,
        "may_work": route_admits(request, "service_desk.take"),
        "technicians": technicians,
        # What the forms start with; a refused form shows what was typed instead (its fields are in `form`).
        "suggested": suggestions(found, visits, today_of(request)),
    }


@routes.get(PAGE, name="service_desk.request")
@access(Access.STAFF)
async def request_page(request: web.Request) -> web.StreamResponse:
    return await render(request, TEMPLATE, await request_context(request))


@contextlib.contextmanager
def fields_renamed(renamed: Mapping[str, str]) -> Iterator[None]:
    """The domain names its fields by the contract (technician, scheduled_for); the page's forms share one page,
    so some of theirs carry other names: an error goes next to the field the person filled in."""
    try:
        yield
    except DomainError as error:
        if error.field is not None and error.field in renamed:
            moved = DomainError(error.message, field=renamed[error.field])
            moved.status = error.status
            raise moved from error
        raise


def parse_day(text: str, *, field: str) -> date:
    """A day as <input type=date> sends it (YYYY-MM-DD)."""
    try:
        if len(text) != 10:
            raise ValueError(text)
        return date.fromisoformat(text)
    except ValueError:
        raise DomainError("enter the date as YYYY-MM-DD, e.g. 2026-12-31", field=field) from None


def parse_clock(text: str, *, field: str) -> time:
    """A time of day as <input type=time> sends it (HH:MM, 24-hour)."""
    try:
        if len(text) != 5:
            raise ValueError(text)
        return time.fromisoformat(text)
    except ValueError:
        raise DomainError("enter the time as HH:MM (24-hour), e.g. 09:30", field=field) from None


async def staff_act(request: web.Request, message: str) -> web.HTTPSeeOther:
    flash(await get_session(request), message)
    return redirect(page_of(path_id(request, "request_id")))


@routes.post(PAGE + "/take", name="service_desk.take")
@access(*WORK)
@form_view(TEMPLATE, request_context)
async def take_view(request: web.Request, form: Form) -> web.StreamResponse:
    viewer = viewer_of(request)
    async with request.app[pool_key].acquire() as connection:
        scope, request_id = await scope_of_request(connection, request)
        await service.take(connection, scope, request_id, staff_id=viewer.user_id, staff_name=viewer.display_name)
    raise await staff_act(request, "You hold this request now: the customer's answer, visit and completion are yours.")


@routes.post(PAGE + "/take-over", name="service_desk.take_over")
@access(*WORK)
@form_view(TEMPLATE, request_context)
async def take_over_view(request: web.Request, form: Form) -> web.StreamResponse:
    viewer = viewer_of(request)
    async with request.app[pool_key].acquire() as connection:
        scope, request_id = await scope_of_request(connection, request)
        await service.take_over(
            connection,
            scope,
            request_id,
            staff_id=viewer.user_id,
            staff_name=viewer.display_name,
            reason=form.get("reason"),
            expected_holder_id=parse_id(form.get("holder")),
        )
    raise await staff_act(request, "You took the request over: its timeline says from whom and why.")


@routes.post(PAGE + "/release", name="service_desk.release")
@access(*WORK)
@form_view(TEMPLATE, request_context)
async def release_view(request: web.Request, form: Form) -> web.StreamResponse:
    viewer = viewer_of(request)
    async with request.app[pool_key].acquire() as connection:
        scope, request_id = await scope_of_request(connection, request)
        await service.release(connection, scope, request_id, staff_id=viewer.user_id, staff_name=viewer.display_name)
    raise await staff_act(request, "You released the request: it is back in the queue for anyone to take.")


@routes.post(PAGE + "/comment", name="service_desk.comment")
@access(*WORK)
@form_view(TEMPLATE, request_context)
async def comment_view(request: web.Request, form: Form) -> web.StreamResponse:
    viewer = viewer_of(request)
    errors = FieldErrors()
    with errors.check():
        body = multi_line(form.get("body"), field="body", missing="write the comment")
    visibility = form.get("visibility")
    with errors.check():
        if visibility not in VISIBILITIES:
            raise DomainError("choose whether the customer may read it or it is an internal note", field="visibility")
    errors.raise_if_any()
    internal = visibility == "internal"
    async with request.app[pool_key].acquire() as connection:
        scope, request_id = await scope_of_request(connection, request)
        await service.comment(
            connection,
            scope,
            Branding.from_config(request.app[config_key]),
            request_id,
            staff_id=viewer.user_id,
            staff_name=viewer.display_name,
            body=body,
            internal=internal,
        )
    said = "Your internal note is added." if internal else "Your answer is added and e-mailed to the customer."
    raise await staff_act(request, said)


@routes.post(PAGE + "/schedule", name="service_desk.schedule")
@access(*WORK)
@form_view(TEMPLATE, request_context)
async def schedule_view(request: web.Request, form: Form) -> web.StreamResponse:
    viewer = viewer_of(request)
    errors = FieldErrors()
    with errors.check():
        technician = single_line(
            form.get("visit_technician"), field="visit_technician", missing="enter the technician's name"
        )
    with errors.check():
        day = parse_day(form.get("visit_date"), field="visit_date")
        if day < today_of(request):
            raise DomainError("choose today or a later day", field="visit_date")
    with errors.check():
        clock = parse_clock(form.get("visit_time"), field="visit_time")
    errors.raise_if_any()
    scheduled_for = datetime.combine(day, clock, tzinfo=zone_of(request))
    async with request.app[pool_key].acquire() as connection:
        scope, request_id = await scope_of_request(connection, request)
        with fields_renamed({"technician": "visit_technician", "scheduled_for": "visit_time"}):
            await service.schedule_visit(
                connection,
                scope,
                Branding.from_config(request.app[config_key]),
                request_id,
                staff_id=viewer.user_id,
                staff_name=viewer.display_name,
                technician=technician,
                scheduled_for=scheduled_for,
            )
    when = f"{day.isoformat()} at {clock:%H:%M}"
    raise await staff_act(request, f"The visit is booked: {technician}, {when}. The customer is e-mailed.")


@routes.post(PAGE + "/complete", name="service_desk.complete")
@access(*WORK)
@form_view(TEMPLATE, request_context)
async def complete_view(request: web.Request, form: Form) -> web.StreamResponse:
    viewer = viewer_of(request)
    today = today_of(request)
    errors = FieldErrors()
    with errors.check():
        performed_on = parse_day(form.get("performed_on"), field="performed_on")
        if performed_on > today:
            raise DomainError("the work cannot be dated after today", field="performed_on")
    with errors.check():
        technician = single_line(form.get("technician"), field="technician", missing="enter who performed the work")
    with errors.check():
        work = multi_line(form.get("work_performed"), field="work_performed", missing="describe the work performed")
    errors.raise_if_any()
    async with request.app[pool_key].acquire() as connection:
        scope, request_id = await scope_of_request(connection, request)
        await service.complete(
            connection,
            scope,
            Branding.from_config(request.app[config_key]),
            request_id,
            staff_id=viewer.user_id,
            staff_name=viewer.display_name,
            performed_on=performed_on,
            technician=technician,
            work_performed=work,
            today=today,
        )
    raise await staff_act(request, "The request is completed: the work is in the customer's service history.")
