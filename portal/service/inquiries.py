"""General Inquiries and Request service (C9, seeds 000 and 002): the forms, pre-filled with the contact on file
and editable, and their submission — once per form, whatever the clicks and refreshes."""

from __future__ import annotations

import secrets
from datetime import date
from typing import Any

from aiohttp import web

from portal.auth.access import Access, access, scope_of, viewer_of
from portal.forms import FieldErrors, Form, form_view, redirect
from portal.keys import config_key, pool_key
from portal.paths import parse_id
from portal.render import render
from portal.service.common import branding_of, today_of
from shared.db import Connection
from shared.errors import DomainError
from shared.scope import CustomerScope
from shared.service import validation
from shared.service.model import TIME_LABELS
from shared.service.requests import submit_request

routes = web.RouteTableDef()

DATE_INPUTS = ("preferred_date_1", "preferred_date_2", "preferred_date_3")
TEMPLATE = {"inquiry": "service/inquiry.html", "service": "service/request.html"}
TOPICS_SETTING = {"inquiry": "service.inquiry_topics", "service": "service.service_topics"}


async def _premises(connection: Connection, scope: CustomerScope) -> list[tuple[str, str]]:
    """The customer's premises as (id, "name — address") choices."""
    rows = await connection.fetch(
        "SELECT id, name, address FROM sites WHERE customer_id = $1 ORDER BY name, id", scope.customer_id
    )
    return [(str(row["id"]), f"{row['name']} — {row['address']}" if row["address"] else row["name"]) for row in rows]


def _topics(request: web.Request, kind: str) -> list[str]:
    return list(request.app[config_key][TOPICS_SETTING[kind]])


async def _context(request: web.Request, kind: str) -> dict[str, Any]:
    today = today_of(request)
    context: dict[str, Any] = {
        "topics": [("", "Select an issue")] + [(topic, topic) for topic in _topics(request, kind)],
        "response_promise": request.app[config_key]["service.response_promise"],
        "contact_limits": {
            name: validation.field_limit(name) for name in ("contact_name", "contact_email", "contact_phone")
        },
    }
    if kind == "service":
        async with request.app[pool_key].acquire() as connection:
            sites = await _premises(connection, scope_of(request))
        context |= {
            "sites": sites,
            "site_choices": ([("", "Choose the premises")] if len(sites) != 1 else []) + sites,
            "times": list(TIME_LABELS.items()),
            "date_inputs": DATE_INPUTS,
            "first_day": today.isoformat(),
            "last_day": (today + validation.BOOKING_HORIZON).isoformat(),
        }
    return context


async def inquiry_context(request: web.Request) -> dict[str, Any]:
    return await _context(request, "inquiry")


async def request_context(request: web.Request) -> dict[str, Any]:
    return await _context(request, "service")


async def _contact_on_file(request: web.Request) -> dict[str, str]:
    """The logged-in user's name and e-mail, the customer's phone: who we answer, unless they change it."""
    viewer = viewer_of(request)
    async with request.app[pool_key].acquire() as connection:
        customer = await connection.fetchrow(
            "SELECT name, phone FROM customers WHERE id = $1", scope_of(request).customer_id
        )
    return {
        "contact_name": viewer.name or (customer["name"] if customer else ""),
        "contact_email": viewer.email,
        "contact_phone": customer["phone"] if customer else "",
    }


async def _blank_form(request: web.Request, kind: str) -> web.StreamResponse:
    context = await _context(request, kind)
    form = await _contact_on_file(request) | {"submission_key": secrets.token_urlsafe(24)}
    if kind == "service":
        form["preferred_time"] = "any"
        if len(context["sites"]) == 1:
            form["site_id"] = context["sites"][0][0]
    return await render(request, TEMPLATE[kind], context | {"form": form})


def _chosen_site(value: str) -> int | None:
    if not value:
        raise DomainError("Choose the premises the visit is for.", field="site_id")
    site_id = parse_id(value)
    if site_id is None:
        raise DomainError("Choose one of your premises.", field="site_id")
    return site_id


def _dates(form: Form) -> list[date]:
    days = []
    for name in DATE_INPUTS:
        if text := form.get(name):
            try:
                days.append(date.fromisoformat(text))
            except ValueError as error:
                raise DomainError("Enter each day as a date, e.g. 2026-12-24.", field="preferred_dates") from error
    return days


async def _submit(request: web.Request, form: Form, kind: str) -> web.StreamResponse:
    """Check every field (all wrong ones are shown at once), then store the request and show its confirmation."""
    topics, today = _topics(request, kind), today_of(request)
    errors = FieldErrors()
    with errors.check():
        validation.check_topic(form.get("topic"), topics)
    with errors.check():
        validation.check_contact_name(form.get("contact_name"))
    with errors.check():
        validation.check_contact_email(form.get("contact_email"))
    with errors.check():
        validation.check_contact_phone(form.get("contact_phone"))
    with errors.check():
        validation.check_comments(form.raw("comments"))
    site_id: int | None = None
    preferred: list[date] = []
    if kind == "service":
        with errors.check():
            site_id = _chosen_site(form.get("site_id"))
        with errors.check():
            preferred = validation.check_preferred_dates(kind, _dates(form), today=today)
        with errors.check():
            validation.check_preferred_time(form.get("preferred_time") or "any")
    with errors.check():
        validation.check_submission_key(form.get("submission_key"))
    errors.raise_if_any()
    async with request.app[pool_key].acquire() as connection:
        request_id = await submit_request(
            connection,
            scope_of(request),
            branding_of(request),
            kind=kind,
            topic=form.get("topic"),
            topics=topics,
            site_id=site_id,
            contact_name=form.get("contact_name"),
            contact_email=form.get("contact_email"),
            contact_phone=form.get("contact_phone"),
            comments=form.raw("comments"),
            preferred_dates=preferred,
            preferred_time=form.get("preferred_time") or "any",
            submission_key=form.get("submission_key"),
            response_promise=request.app[config_key]["service.response_promise"],
            today=today,
        )
    location = request.app.router["service.request_detail"].url_for(request_id=str(request_id))
    raise redirect(str(location.with_query(sent="1")))


# Each form's GET and POST are declared together: aiohttp joins them into one named resource only so.
@routes.get("/service/inquiry", name="service.inquiry")
@access(Access.CUSTOMER)
async def inquiry_page(request: web.Request) -> web.StreamResponse:
    return await _blank_form(request, "inquiry")


@routes.post("/service/inquiry", name="service.inquiry")
@access(Access.CUSTOMER)
@form_view(TEMPLATE["inquiry"], inquiry_context)
async def send_inquiry(request: web.Request, form: Form) -> web.StreamResponse:
    return await _submit(request, form, "inquiry")


@routes.get("/service/request", name="service.request")
@access(Access.CUSTOMER)
async def request_page(request: web.Request) -> web.StreamResponse:
    return await _blank_form(request, "service")


@routes.post("/service/request", name="service.request")
@access(Access.CUSTOMER)
@form_view(TEMPLATE["service"], request_context)
async def send_request(request: web.Request, form: Form) -> web.StreamResponse:
    return await _submit(request, form, "service")
